# The Celery workers on ECS Fargate, in the private subnets.

resource "aws_ecs_cluster" "main" {
  name = local.name

  # Container Insights also publishes RunningTaskCount, the divisor of the
  # backlog-per-task scaling metric (autoscaling.tf).
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_338:Retention is a per-stage choice (var.log_retention_days); job logs carry job ids, not user content.
  name              = "/ecs/${local.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  worker_container_name = "worker"

  worker_environment = merge(
    local.common_environment,
    {
      AWS_REGION   = local.region
      WORKER_COUNT = tostring(var.worker_concurrency)
    },
    var.worker_environment,
  )
}

locals {
  # Each Celery node answers a ping by its name (worker@<host>, webhooks@<host>).
  celery_health_check = {
    for node in ["worker", "webhooks"] : node => {
      command     = ["CMD-SHELL", "celery -A worker.celery_app:app inspect ping --timeout 10 -d \"${node}@$(hostname)\" >/dev/null"]
      interval    = 60
      timeout     = 20
      retries     = 3
      startPeriod = 60
    }
  }
}

locals {
  # What the image workers' and the webhook workers' containers share: the
  # image, the non-root user, a read-only root with a scratch /tmp, no
  # capabilities, the environment and the secrets.
  worker_container_base = {
    image                  = "${aws_ecr_repository.worker.repository_url}:${var.worker_image_tag}"
    essential              = true
    user                   = "10001:10001" # the image's USER (worker/Dockerfile)
    readonlyRootFilesystem = true
    privileged             = false

    linuxParameters = {
      # A tiny init as PID 1 forwards SIGTERM to celery and reaps zombies.
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }

    environment = [
      for key in sort(keys(local.worker_environment)) :
      { name = key, value = local.worker_environment[key] }
    ]

    secrets = [
      { name = "REDIS_URL", valueFrom = aws_ssm_parameter.redis_url.arn },
      { name = "WEBHOOK_SECRET", valueFrom = aws_ssm_parameter.webhook_secret.arn },
    ]

    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
  }

  worker_log_options = {
    awslogs-group   = aws_cloudwatch_log_group.worker.name
    awslogs-region  = local.region
    mode            = "non-blocking"
    max-buffer-size = "4m"
  }
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${local.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.worker_cpu_architecture
  }

  # The root filesystem is read-only; Pillow and Celery get a scratch /tmp
  # on the task's ephemeral storage.
  volume {
    name = "tmp"
  }

  # No "command": the container runs the image's CMD (celery worker with
  # WORKER_COUNT processes), so the image alone defines how a worker starts.
  container_definitions = jsonencode([
    merge(local.worker_container_base, {
      name = local.worker_container_name
      # Celery's warm shutdown on SIGTERM: finish the running tasks (Fargate's
      # maximum wait is 120 s; an unfinished task is redelivered, since tasks
      # are acknowledged late).
      stopTimeout = 120

      healthCheck = local.celery_health_check["worker"]

      logConfiguration = {
        logDriver = "awslogs"
        options   = merge(local.worker_log_options, { awslogs-stream-prefix = "worker" })
      }
    }),
  ])
}

resource "aws_ecs_service" "worker" {
  name            = "${local.name}-worker"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.worker.arn
  desired_count   = var.worker_min_tasks
  launch_type     = "FARGATE"
  # LATEST is the newest Fargate platform version (security patches).
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
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }

  lifecycle {
    # Autoscaling owns the task count after the first apply.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_iam_role_policy.worker_execution]
}

# Workers of the light queue only: light jobs never wait behind heavy ones for
# every worker (the autoscaled service above takes both queues). A fixed count;
# see docs/RELIABILITY.md, limits and fairness.
resource "aws_ecs_task_definition" "worker_light" {
  family                   = "${local.name}-worker-light"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.worker_cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    merge(local.worker_container_base, {
      name        = "worker-light"
      stopTimeout = 120
      environment = concat(local.worker_container_base.environment, [
        { name = "WORKER_QUEUES", value = var.celery_queue },
      ])

      healthCheck = local.celery_health_check["worker"]

      logConfiguration = {
        logDriver = "awslogs"
        options   = merge(local.worker_log_options, { awslogs-stream-prefix = "worker-light" })
      }
    }),
  ])
}

resource "aws_ecs_service" "worker_light" {
  name             = "${local.name}-worker-light"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.worker_light.arn
  desired_count    = var.light_worker_tasks
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
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }

  depends_on = [aws_iam_role_policy.worker_execution]
}
