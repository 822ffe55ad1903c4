# Wiring for the API, which Chalice generates.
#
# `make package` runs `chalice package --pkg-format terraform --stage <stage>`
# and scripts/chalice_tf.py drops its output into this directory as
# chalice.tf.json (+ deployment.zip), so the API and the rest of the system
# are one Terraform configuration, planned and applied together.
#
# .chalice/config.json refers to the values below by name, as Terraform
# interpolations that Chalice copies through untouched:
#
#   "manage_iam_role": false,
#   "iam_role_arn": "${local.api_role_arn}",
#   "subnet_ids": ["${local.api_subnet_ids[0]}", "${local.api_subnet_ids[1]}"],
#   "security_group_ids": ["${local.api_security_group_id}"],
#
# and scripts/chalice_tf.py sets every function's environment to
# local.api_environment, so the deployed API's settings are listed once, here.
# tests/infra checks that every name the generated file uses is defined here.

locals {
  api_role_arn          = aws_iam_role.api.arn
  api_subnet_ids        = aws_subnet.private[*].id
  api_security_group_id = aws_security_group.api.id
  api_kms_key_arn       = aws_kms_key.main.arn

  # REDIS_URL carries the AUTH token: Lambda has no native SSM injection, so it
  # is an environment variable encrypted with the customer-managed key
  # (scripts/chalice_tf.py sets kms_key_arn on every function).
  api_environment = merge(local.common_environment, {
    REDIS_URL = local.redis_url
    # API Gateway takes 10 MB and Lambda 6 MB, base64 included: bigger images go
    # straight to S3 (POST /api/uploads).
    MAX_UPLOAD_BYTES = "4500000"
  })
}

# Created here, before the function, so it is encrypted and has a retention
# (Lambda would otherwise create it on first log line, unencrypted, kept for ever).
resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_338:Retention is a per-stage choice (var.log_retention_days); request logs carry job ids, not user content.
  name              = "/aws/lambda/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
