# `terraform test` of infra/ with a mocked AWS provider: no account, no network
# (tests/infra/test_terraform_test.py runs it with the local provider mirror).
# What the hand-written configuration promises: the stage in every name, the
# documented environments (docs/DEPLOY.md, "Environments"), wildcard IAM
# conditions that can match, the webhooks service on the webhooks queue, a secret
# that does not block a redeploy, and no CORS unless a stage asks for it.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  stage            = "stg7"
  worker_image_tag = "test"
}

run "every_name_carries_the_stage" {
  command = apply

  assert {
    condition = alltrue([for name in [
      aws_s3_bucket.media.bucket,
      aws_kms_alias.main.name,
      aws_sns_topic.alarms.name,
      aws_ecr_repository.worker.name,
      aws_ecs_cluster.main.name,
      aws_ecs_service.worker.name,
      aws_ecs_service.worker_light.name,
      aws_ecs_service.webhooks.name,
      aws_ecs_task_definition.worker.family,
      aws_ecs_task_definition.worker_light.family,
      aws_ecs_task_definition.webhooks.family,
      aws_iam_role.api.name,
      aws_iam_role.worker_task.name,
      aws_iam_role.worker_execution.name,
      aws_iam_role.webhooks_task.name,
      aws_iam_role.flow_logs.name,
      aws_cloudwatch_log_group.worker.name,
      aws_cloudwatch_log_group.redis.name,
      aws_cloudwatch_log_group.flow_logs.name,
      aws_elasticache_replication_group.main.replication_group_id,
      aws_elasticache_parameter_group.main.name,
      aws_elasticache_subnet_group.main.name,
      aws_secretsmanager_secret.redis_auth.name,
      aws_ssm_parameter.redis_url.name,
      aws_ssm_parameter.webhook_secret.name,
      aws_appautoscaling_policy.worker_backlog.name,
      aws_security_group.api.name,
      aws_security_group.worker.name,
      aws_security_group.webhooks.name,
      aws_security_group.redis.name,
      aws_security_group.endpoints.name,
      aws_vpc.main.tags["Name"],
      aws_cloudwatch_metric_alarm.jobs_failed.alarm_name,
      aws_cloudwatch_metric_alarm.dead_letters.alarm_name,
      aws_cloudwatch_metric_alarm.queue_age.alarm_name,
      aws_cloudwatch_metric_alarm.queue_backlog.alarm_name,
      aws_cloudwatch_metric_alarm.queue_metric_missing.alarm_name,
      aws_cloudwatch_metric_alarm.api_errors.alarm_name,
    ] : can(regex("(^|[-/])stg7([-/]|$)", name))])
    error_message = "A resource name lacks the stage: dev and prod in one account would collide."
  }
}

run "the_ecs_environments_are_the_documented_lists" {
  command = apply

  assert {
    condition = alltrue([for family, definition in {
      worker       = aws_ecs_task_definition.worker.container_definitions,
      worker_light = aws_ecs_task_definition.worker_light.container_definitions,
      webhooks     = aws_ecs_task_definition.webhooks.container_definitions,
      } : sort([for item in jsondecode(definition)[0].environment : item.name]) == sort(concat(
        ["AWS_REGION", "CELERY_QUEUE", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
        "RESULTS_FOLDER", "S3_BUCKET", "STAGE", "UPLOAD_FOLDER", "WEBHOOK_PORTS", "WORKER_COUNT"],
        family == "worker_light" ? ["WORKER_QUEUES"] : [],
    ))])
    error_message = "An ECS container's environment is not the list in docs/DEPLOY.md (Environments)."
  }

  assert {
    condition = alltrue([for definition in [
      aws_ecs_task_definition.worker.container_definitions,
      aws_ecs_task_definition.worker_light.container_definitions,
      aws_ecs_task_definition.webhooks.container_definitions,
    ] : sort([for item in jsondecode(definition)[0].secrets : item.name]) == sort(["REDIS_URL", "WEBHOOK_SECRET"])])
    error_message = "Every ECS container gets exactly REDIS_URL and WEBHOOK_SECRET from SSM."
  }

  assert {
    condition     = { for item in jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].environment : item.name => item.value }["STAGE"] == "stg7"
    error_message = "The workers' STAGE is not the deployment's stage."
  }
}

run "the_api_environment_is_the_documented_list" {
  command = apply

  assert {
    condition = sort(keys(local.api_environment)) == sort([
      "CELERY_QUEUE", "MAX_UPLOAD_BYTES", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
      "REDIS_URL", "RESULTS_FOLDER", "S3_BUCKET", "STAGE", "UPLOAD_FOLDER", "WEBHOOK_PORTS",
    ])
    error_message = "local.api_environment is not the list in docs/DEPLOY.md (Environments)."
  }
}

run "iam_conditions_with_wildcards_use_string_like" {
  command = apply

  # A "*" in a StringEquals value is compared literally: it never matches.
  assert {
    condition = alltrue(flatten([for document in [
      data.aws_iam_policy_document.lambda_assume,
      data.aws_iam_policy_document.api,
      data.aws_iam_policy_document.ecs_tasks_assume,
      data.aws_iam_policy_document.worker_task,
      data.aws_iam_policy_document.worker_execution,
      data.aws_iam_policy_document.flow_logs_assume,
      data.aws_iam_policy_document.flow_logs,
      data.aws_iam_policy_document.webhooks_task,
      data.aws_iam_policy_document.media_bucket,
      ] : [for statement in document.statement : [for condition in statement.condition :
        !anytrue([for value in condition.values : strcontains(value, "*")]) ||
        startswith(condition.test, "StringLike") || startswith(condition.test, "StringNotLike") ||
        startswith(condition.test, "ArnLike") || startswith(condition.test, "ArnNotLike")
    ]]]))
    error_message = "An IAM condition compares a value with a wildcard without StringLike or ArnLike."
  }

  assert {
    condition = alltrue(flatten([for statement in jsondecode(aws_kms_key.main.policy).Statement : [
      for test, values in try(statement.Condition, {}) : [
        for value in flatten([for v in values : v]) :
        !strcontains(value, "*") || startswith(test, "StringLike") || startswith(test, "ArnLike")
      ]
    ]]))
    error_message = "A condition of the KMS key policy compares a wildcard without StringLike or ArnLike."
  }
}

run "the_webhooks_service_reads_the_webhooks_queue" {
  command = apply

  variables {
    celery_queue = "jobs"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.webhooks.container_definitions)[0].command[index(jsondecode(aws_ecs_task_definition.webhooks.container_definitions)[0].command, "-Q") + 1] == "jobs-webhooks"
    error_message = "The webhooks container does not consume <celery_queue>-webhooks (what the API and workers send webhooks to)."
  }

  assert {
    condition     = aws_ecs_service.webhooks.task_definition == aws_ecs_task_definition.webhooks.arn
    error_message = "The webhooks service does not run the webhooks task definition."
  }
}

run "the_redis_secret_can_be_recreated_at_once" {
  command = apply

  assert {
    condition     = aws_secretsmanager_secret.redis_auth.recovery_window_in_days == 0
    error_message = "A recovery window keeps the secret's name taken after destroy: the stage cannot be deployed again for days."
  }
}

run "no_bucket_cors_by_default" {
  command = apply

  assert {
    condition     = length(aws_s3_bucket_cors_configuration.media) == 0
    error_message = "The bucket allows browser origins though the stage named none."
  }
}

run "bucket_cors_for_the_stage_origins" {
  command = apply

  variables {
    cors_allowed_origins = ["https://app.example.com"]
  }

  assert {
    condition     = alltrue([for rule in aws_s3_bucket_cors_configuration.media[0].cors_rule : rule.allowed_origins == toset(["https://app.example.com"])])
    error_message = "The bucket's CORS rules do not name exactly the stage's origins."
  }
}
