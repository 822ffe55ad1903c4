variable "name" {
  description = "<name>-<stage> of the deployment (names the access log group)."
  type        = string
}

variable "rest_api_id" {
  description = "ID of the Chalice-generated REST API."
  type        = string
}

variable "deployment_id" {
  description = "ID of the REST API's current deployment (a new one on every change of the API)."
  type        = string
}

variable "stage_name" {
  description = "Name of the API Gateway stage (api_gateway_stage in .chalice/config.json)."
  type        = string
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second the stage accepts."
  type        = number
}

variable "throttle_burst_limit" {
  description = "Burst of requests the stage accepts."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the access log group."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key encrypting the access log group."
  type        = string
}
