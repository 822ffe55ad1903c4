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

variable "requests_per_source_per_5_minutes" {
  description = "Requests one source address may send in any 5 minutes before WAF blocks it (a rate-based rule in front of the stage-wide throttle: without it, requests with no valid key could spend every tenant's share). Minimum 100; 0 turns the web ACL off."
  type        = number
  default     = 1500

  validation {
    condition     = var.requests_per_source_per_5_minutes == 0 || var.requests_per_source_per_5_minutes >= 100
    error_message = "WAF's rate-based rules count at least 100 requests per source."
  }
}
