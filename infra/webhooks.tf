# The webhook workers on ECS Fargate: the worker image, consuming the webhooks
# queue only, with threads (deliveries wait on the network, not the CPU). They
# alone may reach the internet, so a slow or hostile receiver never holds an
# image worker, and image workers never talk to the outside.

locals {
  webhooks_queue = "${var.celery_queue}-webhooks"
}

resource "aws_iam_role" "webhooks_task" {
  name               = "${local.name}-webhooks-task"
  description        = "The ${local.name} webhook workers' own permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "webhooks_task" {
  # The status body carries presigned links to the outputs; they work only if
  # the signer may read them.
  statement {
    sid       = "SignResultLinks"
    actions   = ["s3:GetObject"]
    resources = [local.results_arn]
  }

  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "webhooks_task" {
  name   = "least-privilege"
  role   = aws_iam_role.webhooks_task.id
  policy = data.aws_iam_policy_document.webhooks_task.json
}

resource "aws_ecs_task_definition" "webhooks" {
  family                   = "${local.name}-webhooks"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.webhooks_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.worker_cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    merge(local.worker_container_base, {
      name        = "webhooks"
      stopTimeout = 30
      command = [
        "celery", "-A", "worker.celery_app:app", "worker",
        "--loglevel", "INFO", "--pool", "threads",
        "--concurrency", tostring(var.webhook_concurrency),
        "-Q", local.webhooks_queue, "-n", "webhooks@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
      ]

      healthCheck = local.celery_health_check["webhooks"]

      logConfiguration = {
        logDriver = "awslogs"
        options   = merge(local.worker_log_options, { awslogs-stream-prefix = "webhooks" })
      }
    }),
  ])
}

resource "aws_ecs_service" "webhooks" {
  name             = "${local.name}-webhooks"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.webhooks.arn
  desired_count    = var.webhook_tasks
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.webhooks.id]
    assign_public_ip = false
  }

  depends_on = [aws_iam_role_policy.worker_execution]
}
