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

################################################################################
# API Gateway: stage throttling and the service's JSON error shape
################################################################################

# Every method of the stage (the service's own per-tenant limits come after this,
# in the function: see docs/DEPLOY.md for the choice).
resource "aws_api_gateway_method_settings" "throttle" {
  #checkov:skip=CKV_AWS_225:No gateway cache: every answer is per tenant and changes (job status), and is sent with Cache-Control no-store.
  rest_api_id = aws_api_gateway_rest_api.rest_api.id
  stage_name  = aws_api_gateway_deployment.rest_api.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttle_rate_limit
    throttling_burst_limit = var.api_throttle_burst_limit
  }
}

locals {
  # Answers API Gateway gives itself, in the function's error shape.
  gateway_errors = {
    MISSING_AUTHENTICATION_TOKEN = { status = "404", code = "not_found", message = "No such route; see /api/openapi.json." }
    THROTTLED                    = { status = "429", code = "rate_limited", message = "The API is busy; try again shortly." }
    REQUEST_TOO_LARGE            = { status = "413", code = "upload_too_large", message = "The request body is too large; upload large images with POST /api/uploads." }
    DEFAULT_4XX                  = { status = null, code = "invalid_request", message = "The request was refused." }
    DEFAULT_5XX                  = { status = null, code = "service_unavailable", message = "The service is unavailable; try again shortly." }
  }
}

resource "aws_api_gateway_gateway_response" "json" {
  for_each = local.gateway_errors

  rest_api_id   = aws_api_gateway_rest_api.rest_api.id
  response_type = each.key
  status_code   = each.value.status

  response_templates = {
    "application/json" = jsonencode({ error = { code = each.value.code, message = each.value.message } })
  }

  response_parameters = each.key == "THROTTLED" ? {
    "gatewayresponse.header.Retry-After" = "'1'"
  } : {}
}
