# CloudWatch alarms on the service's own metrics (namespace var.metrics_namespace,
# dimension service=<name>-<stage>; docs/DEPLOY.md lists who publishes what),
# plus the API function's errors. All notify one encrypted SNS topic.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
}

# Jobs that ended `failed` (bad images included): a burst means a broken
# release or a broken dependency more often than bad input.
resource "aws_cloudwatch_metric_alarm" "jobs_failed" {
  alarm_name          = "${local.name}-jobs-failed"
  alarm_description   = "More than ${var.failed_jobs_alarm_threshold} jobs failed in 5 minutes (metric JobsFailed, published by the workers)."
  namespace           = var.metrics_namespace
  metric_name         = "JobsFailed"
  dimensions          = local.metric_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failed_jobs_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Malformed or poisoned tasks parked in the dead-letter list
# (chalicelib.jobs.contract.DEAD_LETTER_KEY): anything there needs a person.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "Tasks are waiting in the dead-letter list (metric DeadLetters, published every minute by the scheduled function)."
  namespace           = var.metrics_namespace
  metric_name         = "DeadLetters"
  dimensions          = local.metric_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The oldest queued job has waited too long: workers are stuck, crashing, or
# at max capacity.
resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${local.name}-queue-age"
  alarm_description   = "The oldest queued job has waited more than ${var.queue_age_alarm_seconds} s (metric QueueOldestJobAge)."
  namespace           = var.metrics_namespace
  metric_name         = "QueueOldestJobAge"
  dimensions          = local.metric_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A backlog that autoscaling has not drained in 15 minutes.
resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  alarm_name          = "${local.name}-queue-backlog"
  alarm_description   = "More than ${var.queue_backlog_alarm_threshold} jobs queued for 15 minutes (metric QueueLength)."
  namespace           = var.metrics_namespace
  metric_name         = "QueueLength"
  dimensions          = local.metric_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_backlog_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No queue metric at all for 5 minutes: the scheduled publisher is down, and
# with it autoscaling and the queue alarms above.
resource "aws_cloudwatch_metric_alarm" "queue_metric_missing" {
  alarm_name          = "${local.name}-queue-metric-missing"
  alarm_description   = "No QueueLength datapoint for 5 minutes: the scheduled metric publisher is failing, so autoscaling is blind."
  namespace           = var.metrics_namespace
  metric_name         = "QueueLength"
  dimensions          = local.metric_dimensions
  statistic           = "SampleCount"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Unhandled errors of the API function (the API answers its own errors as
# JSON, so a Lambda error is a crash or a timeout).
resource "aws_cloudwatch_metric_alarm" "api_errors" {
  alarm_name          = "${local.name}-api-errors"
  alarm_description   = "The API Lambda ${local.name} raised errors or timed out."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
