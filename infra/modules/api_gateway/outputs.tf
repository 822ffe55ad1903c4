output "invoke_url" {
  description = "URL of the stage (the API's endpoint)."
  value       = aws_api_gateway_stage.api.invoke_url
}

output "stage_name" {
  description = "Name of the stage."
  value       = aws_api_gateway_stage.api.stage_name
}

output "access_log_group" {
  description = "Name of the stage's access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "web_acl_arn" {
  description = "ARN of the stage's WAF web ACL (empty when turned off)."
  value       = one(aws_wafv2_web_acl.api[*].arn)
}
