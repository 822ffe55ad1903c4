# Least-privilege roles: the API Lambda, the worker task, the worker task's
# execution (image pull, logs, secrets), and the VPC flow logs.
#
#                     uploads/*                  results/*
#   API Lambda        put, get (sniff), delete   get, delete
#   worker task       get                        put
#
# Both may use the KMS key only through S3 (kms:ViaService).

locals {
  bucket_arn  = aws_s3_bucket.media.arn
  uploads_arn = "${aws_s3_bucket.media.arn}/${var.upload_folder}/*"
  results_arn = "${aws_s3_bucket.media.arn}/${var.results_folder}/*"

  # The API function and any scheduled function Chalice adds are named
  # <name>-<stage> and <name>-<stage>-<function>.
  api_log_group_arns = [
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name}",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name}-*",
  ]
}

################################################################################
# API Lambda
################################################################################

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "api" {
  name               = "${local.name}-api"
  description        = "The ${local.name} API Lambda (Chalice, manage_iam_role=false)"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "WriteUploads"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = [local.uploads_arn]
  }

  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = [local.results_arn]
  }

  # Listing serves job deletion (list a job's prefix) and the health check
  # (HeadBucket, which carries no prefix: hence IfExists).
  statement {
    sid       = "ListJobPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLikeIfExists"
      variable = "s3:prefix"
      values   = ["${var.upload_folder}/*", "${var.results_folder}/*"]
    }
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  # The Lambda's environment (it holds REDIS_URL) is encrypted with the key.
  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    # StringLike: the value has a wildcard (StringEquals would compare the "*"
    # literally and never match the scheduled functions).
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:LambdaFunctionName"
      values   = [local.name, "${local.name}-*"]
    }
  }

  statement {
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type; the namespace condition scopes it.

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = concat(local.api_log_group_arns, [for arn in local.api_log_group_arns : "${arn}:*"])
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray's write actions support no resource-level permissions.
  }

  # Lambda creates and removes the function's network interfaces in the VPC
  # with the function's role. Describe calls cannot be scoped; creation is
  # limited to this VPC's subnets and the API security group.
  statement {
    sid = "VpcDescribe"
    actions = [
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }

  statement {
    sid     = "VpcCreateInterfaces"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"],
      aws_subnet.private[*].arn,
      [aws_security_group.api.arn],
    )
  }

  statement {
    sid = "VpcManageInterfaces"
    actions = [
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    # All of the account's interfaces in the region, as Lambda's documentation
    # asks: a narrower scope can keep the function from leaving the VPC cleanly.
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"]
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "least-privilege"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

################################################################################
# Worker task (what the Celery code may do)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "worker_task" {
  name               = "${local.name}-worker-task"
  description        = "The ${local.name} Celery workers' own permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "worker_task" {
  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject"]
    resources = [local.uploads_arn]
  }

  # A job deleted while it ran: the worker removes what it wrote (it lists the
  # job's prefix, then deletes).
  statement {
    sid       = "WriteAndRemoveResults"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [local.results_arn]
  }

  statement {
    sid       = "ListResults"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.results_folder}/*"]
    }
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "worker_task" {
  name   = "least-privilege"
  role   = aws_iam_role.worker_task.id
  policy = data.aws_iam_policy_document.worker_task.json
}

################################################################################
# Worker execution (what ECS does to start the task)
################################################################################

resource "aws_iam_role" "worker_execution" {
  name               = "${local.name}-worker-execution"
  description        = "ECS pulls the ${local.name} worker image, writes its logs and reads its secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "worker_execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource type.
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.worker.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }

  statement {
    sid       = "Secrets"
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.redis_url.arn, aws_ssm_parameter.webhook_secret.arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "worker_execution" {
  name   = "least-privilege"
  role   = aws_iam_role.worker_execution.id
  policy = data.aws_iam_policy_document.worker_execution.json
}

################################################################################
# VPC flow logs
################################################################################

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  description        = "VPC flow logs of ${local.name} to CloudWatch Logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
    ]
    resources = [aws_cloudwatch_log_group.flow_logs.arn, "${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}
