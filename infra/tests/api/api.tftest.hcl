# `terraform test` of the generated API (chalice.tf.json as scripts/chalice_tf.py
# adapts it), with a mocked AWS provider. It needs the generated file beside
# infra/'s own, so it is not in tests/ (which a fresh clone runs): the suite
# (tests/infra/test_terraform_test.py) packages the dev stage into a scratch copy
# of infra/ and runs `terraform test -test-directory=tests/api` there.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  stage            = "dev" # the stage packaged into chalice.tf.json
  worker_image_tag = "test"
}

run "every_generated_name_carries_the_stage" {
  command = apply

  assert {
    condition = alltrue([for name in [
      aws_lambda_function.api_handler.function_name,
      aws_lambda_function.watch_queue.function_name,
      aws_cloudwatch_event_rule.watch_queue-event.name,
      aws_cloudwatch_event_target.watch_queue-event.target_id,
      aws_api_gateway_rest_api.rest_api.name,
      aws_cloudwatch_log_group.lambda_api_handler.name,
      aws_cloudwatch_log_group.lambda_watch_queue.name,
      module.api_gateway.access_log_group,
    ] : can(regex("(^|[-/])dev([-/]|$)", name))])
    error_message = "A generated name lacks the stage: dev and prod in one account would share it (the schedule rule did)."
  }
}

run "every_function_has_the_documented_environment" {
  command = apply

  assert {
    condition = alltrue([for function in [aws_lambda_function.api_handler, aws_lambda_function.watch_queue] :
      sort(keys(function.environment[0].variables)) == sort([
        "CELERY_QUEUE", "MAX_UPLOAD_BYTES", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
        "REDIS_URL", "RESULTS_FOLDER", "S3_BUCKET", "STAGE", "UPLOAD_FOLDER", "WEBHOOK_PORTS",
      ])
    ])
    error_message = "A function's environment is not the list in docs/DEPLOY.md (Environments)."
  }

  assert {
    condition = alltrue([for function in [aws_lambda_function.api_handler, aws_lambda_function.watch_queue] :
      function.kms_key_arn == aws_kms_key.main.arn && function.tracing_config[0].mode == "Active"
    ])
    error_message = "A function's environment (REDIS_URL) is not encrypted with the service's key, or tracing is off."
  }
}

run "every_function_has_a_managed_encrypted_expiring_log_group" {
  command = apply

  assert {
    condition = alltrue([for pair in [
      [aws_lambda_function.api_handler, aws_cloudwatch_log_group.lambda_api_handler],
      [aws_lambda_function.watch_queue, aws_cloudwatch_log_group.lambda_watch_queue],
      ] : pair[1].name == "/aws/lambda/${pair[0].function_name}" &&
    pair[1].kms_key_id == aws_kms_key.main.arn && pair[1].retention_in_days > 0])
    error_message = "A function's log group is missing, unencrypted or kept for ever."
  }
}

run "the_stage_is_a_resource_of_its_own" {
  command = apply

  assert {
    condition     = module.api_gateway.stage_name == "api" && output.EndpointURL == module.api_gateway.invoke_url
    error_message = "The API's stage is not the one modules/api_gateway makes."
  }
}

run "a_flood_from_one_source_is_refused_at_the_edge" {
  command = apply

  assert {
    condition     = module.api_gateway.web_acl_arn != null
    error_message = "The stage has no WAF web ACL: anyone without a key could spend every tenant's share of the stage's throttle."
  }
}
