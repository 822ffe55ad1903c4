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
#
# The references go one way only: chalice.tf.json refers to infra/, never the
# other way round, so infra/ validates and plans on a fresh clone, before
# `make package`. What belongs to the generated API is added by
# scripts/chalice_tf.py into chalice.tf.json: one encrypted, expiring log group
# per function (/aws/lambda/<function name>, before the function exists, or
# Lambda makes it unencrypted and kept for ever), the API Gateway stage with its
# throttling and JSON error answers (modules/api_gateway), and the stage in
# every generated name.

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
