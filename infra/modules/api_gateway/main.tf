# The API Gateway stage of the Chalice-generated REST API, its throttling and the
# service's JSON error shape.
#
# Called from chalice.tf.json (scripts/chalice_tf.py writes the call), never from
# the hand-written files in infra/: they must not refer to the generated API, so
# that `terraform validate` passes before `make package` has run.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

# The stage as its own resource (the deployment's stage_name is deprecated).
resource "aws_api_gateway_stage" "api" {
  #checkov:skip=CKV_AWS_120:No gateway cache: every answer is per tenant and changes (job status), and is sent with Cache-Control no-store.
  #checkov:skip=CKV2_AWS_51:Clients authenticate with the service's API keys; the backend is Lambda, which needs no client certificate.
  #checkov:skip=CKV2_AWS_4:Execution logging needs an account-wide API Gateway CloudWatch role, an account's choice; access logs (below) and the function's own logs cover requests.
  #checkov:skip=CKV2_AWS_29:WAF is a per-account choice; the stage throttle and the service's per-tenant limits bound the traffic.
  rest_api_id          = var.rest_api_id
  deployment_id        = var.deployment_id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId = "$context.requestId", ip = "$context.identity.sourceIp",
      time      = "$context.requestTime", method = "$context.httpMethod",
      path      = "$context.resourcePath", status = "$context.status",
      length    = "$context.responseLength", latencyMs = "$context.responseLatency",
    })
  }
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is a per-stage choice (var.log_retention_days); access logs carry paths with job ids, not user content.
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# Every method of the stage (the service's own per-tenant limits come after this,
# in the function: see docs/DEPLOY.md for the choice).
resource "aws_api_gateway_method_settings" "throttle" {
  #checkov:skip=CKV_AWS_225:No gateway cache: every answer is per tenant and changes (job status), and is sent with Cache-Control no-store.
  rest_api_id = var.rest_api_id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
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

  rest_api_id   = var.rest_api_id
  response_type = each.key
  status_code   = each.value.status

  response_templates = {
    "application/json" = jsonencode({ error = { code = each.value.code, message = each.value.message } })
  }

  response_parameters = each.key == "THROTTLED" ? {
    "gatewayresponse.header.Retry-After" = "'1'"
  } : {}
}
