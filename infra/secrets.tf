# Application secrets other than Redis's (redis.tf): generated once by Secrets
# Manager's password generator, kept as SSM SecureStrings that ECS injects into
# the worker containers. ignore_changes keeps the first value (the generator
# answers a new one on every plan); rotate with
#   terraform apply -replace=aws_ssm_parameter.webhook_secret
# then redeploy the workers.

data "aws_secretsmanager_random_password" "webhook_secret" {
  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

# HMAC-SHA256 key of the X-Signature header on webhook calls (WEBHOOK_SECRET).
resource "aws_ssm_parameter" "webhook_secret" {
  name        = "/${var.name}/${var.stage}/webhook-secret"
  description = "WEBHOOK_SECRET of the ${local.name} workers (signs webhook calls)"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = data.aws_secretsmanager_random_password.webhook_secret.random_password

  lifecycle {
    ignore_changes = [value]
  }
}
