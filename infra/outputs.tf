output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.main.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (the API Lambda and the workers run there)."
  value       = aws_subnet.private[*].id
}

output "api_security_group_id" {
  description = "Security group of the API Lambda."
  value       = aws_security_group.api.id
}

output "worker_security_group_id" {
  description = "Security group of the worker tasks."
  value       = aws_security_group.worker.id
}

output "api_role_arn" {
  description = "IAM role of the API Lambda (iam_role_arn in .chalice/config.json)."
  value       = aws_iam_role.api.arn
}

output "bucket_name" {
  description = "S3 bucket for uploads and results (S3_BUCKET)."
  value       = aws_s3_bucket.media.id
}

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key encrypting the service's data."
  value       = aws_kms_key.main.arn
}

output "redis_primary_endpoint" {
  description = "Primary endpoint address of the Redis replication group (TLS, AUTH)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "redis_url_parameter" {
  description = "Name of the SSM SecureString parameter holding REDIS_URL (with the AUTH token)."
  value       = aws_ssm_parameter.redis_url.name
}

output "ecr_repository_url" {
  description = "URL of the worker image repository (docker push <url>:<tag>)."
  value       = aws_ecr_repository.worker.repository_url
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster running the workers."
  value       = aws_ecs_cluster.main.name
}

output "ecs_service_name" {
  description = "Name of the workers' ECS service."
  value       = aws_ecs_service.worker.name
}

output "worker_log_group" {
  description = "CloudWatch log group of the workers."
  value       = aws_cloudwatch_log_group.worker.name
}

output "api_log_group" {
  description = "CloudWatch log group of the API Lambda (each scheduled function has its own, /aws/lambda/<name>-<stage>-<function>)."
  value       = "/aws/lambda/${local.name}"
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify; subscribe your pager to it."
  value       = aws_sns_topic.alarms.arn
}

output "metrics_namespace" {
  description = "CloudWatch namespace the service publishes its metrics to."
  value       = var.metrics_namespace
}

output "metric_dimensions" {
  description = "Dimensions every service metric must carry, exactly (name => value)."
  value       = local.metric_dimensions
}
