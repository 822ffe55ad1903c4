# The provider, the naming and tagging conventions, and facts about the account.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first length(var.private_subnet_cidrs) zones (sorted by name) are used, so a newly added zone changes nothing.
  state = "available"
}

locals {
  # Chalice names the API function "<app_name>-<stage>": every name here
  # follows the same pattern so the two halves line up.
  name       = "${var.name}-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  azs        = slice(data.aws_availability_zones.available.names, 0, length(var.private_subnet_cidrs))

  tags = merge(
    {
      Application = var.name
      Stage       = var.stage
      ManagedBy   = "terraform"
    },
    var.tags,
  )

  # The dimensions every service metric carries (see docs/DEPLOY.md, "Metrics").
  # `service` is the dimension AWS Lambda Powertools adds from
  # POWERTOOLS_SERVICE_NAME, so Powertools publishes exactly this set.
  metric_dimensions = {
    service = local.name
  }

  # Environment shared by the API Lambda and the workers. Secrets (REDIS_URL)
  # are not here: the workers get them from SSM, the Lambda from api.tf.
  common_environment = {
    STAGE                        = var.stage
    S3_BUCKET                    = aws_s3_bucket.media.id
    UPLOAD_FOLDER                = var.upload_folder
    RESULTS_FOLDER               = var.results_folder
    CELERY_QUEUE                 = var.celery_queue
    POWERTOOLS_SERVICE_NAME      = local.name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    # Callbacks over HTTPS only: the webhook workers' egress allows 443 alone.
    WEBHOOK_PORTS = "443"
  }
}
