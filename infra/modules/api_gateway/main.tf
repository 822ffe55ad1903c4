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
  #checkov:skip=CKV2_AWS_29:The stage is protected by aws_wafv2_web_acl.api below, associated by aws_wafv2_web_acl_association.api (with a count, which checkov does not follow).
  #checkov:skip=CKV2_AWS_77:The API is Python on Lambda: no Log4j in the request path; the web ACL is there for its rate rule.
  #checkov:skip=CKV2_AWS_4:Execution logging needs an account-wide API Gateway CloudWatch role, an account's choice; access logs (below) and the function's own logs cover requests.
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

# One source address's flood is refused at the edge, before it spends the stage-wide
# throttle that every tenant shares (the service's per-tenant limits only see requests
# that reached the function). Costs a web ACL, one rule and WAF's per-request price.
resource "aws_wafv2_web_acl" "api" {
  #checkov:skip=CKV2_AWS_31:WAF logging is a per-account choice (a Firehose or a log group named aws-waf-logs-*); the stage's access log records every request.
  #checkov:skip=CKV_AWS_192:No Log4j in the request path: the API is Python on Lambda.
  count = var.requests_per_source_per_5_minutes > 0 ? 1 : 0

  name  = "${var.name}-api"
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "requests-per-source"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.requests_per_source_per_5_minutes
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-requests-per-source"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-api"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  count = var.requests_per_source_per_5_minutes > 0 ? 1 : 0

  resource_arn = aws_api_gateway_stage.api.arn
  web_acl_arn  = aws_wafv2_web_acl.api[0].arn
}
