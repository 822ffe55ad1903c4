# Worker autoscaling on queue backlog per task.
#
# The API's scheduled function publishes the Celery queue's length every
# minute as <metrics_namespace>/QueueLength with the dimension
# service=<name>-<stage>. Dividing it by the service's running task count
# (Container Insights) gives the backlog each task faces; target tracking adds
# tasks when it rises above backlog_per_task_target and removes them, slowly,
# when it falls.

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
  min_capacity       = var.worker_min_tasks
  max_capacity       = var.worker_max_tasks
}

resource "aws_appautoscaling_policy" "worker_backlog" {
  name               = "${local.name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.backlog_per_task_target
    scale_out_cooldown = 60
    # Scale in gently: a task stopping mid-job hands its job back to the queue.
    scale_in_cooldown = 300

    customized_metric_specification {
      metrics {
        id          = "queue"
        label       = "Jobs waiting in the queue"
        return_data = false

        metric_stat {
          stat = "Maximum"

          metric {
            namespace   = var.metrics_namespace
            metric_name = "QueueLength"

            dynamic "dimensions" {
              for_each = local.metric_dimensions
              content {
                name  = dimensions.key
                value = dimensions.value
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running worker tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.main.name
            }

            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.worker.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "Queued jobs per running task"
        expression  = "queue / tasks"
        return_data = true
      }
    }
  }
}
