################################################################################
# Naming
################################################################################

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Application name; must equal app_name in .chalice/config.json, since Chalice names the API function <name>-<stage>."
  type        = string
  default     = "media-jobs"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be lower-case letters, digits and dashes, 2 to 31 characters."
  }
}

variable "stage" {
  description = "Deployment stage; must equal the Chalice stage packaged into chalice.tf.json (dev or prod)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.stage))
    error_message = "stage must be lower-case letters and digits, 2 to 16 characters."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets, one per availability zone (at least two: ElastiCache failover and the Lambda need two AZs)."
  type        = list(string)
  default     = ["10.40.0.0/20", "10.40.16.0/20"]

  validation {
    condition     = length(var.private_subnet_cidrs) >= 2
    error_message = "Give at least two private subnets (two availability zones)."
  }
}

variable "enable_nat_gateway" {
  description = "Give the private subnets internet egress through a NAT gateway, for the webhook workers' calls (HTTPS only, webhook workers only). False closes the VPC to the internet; callbacks then fail."
  type        = bool
  default     = true
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per availability zone (survives an AZ outage) instead of one for the VPC (cheaper)."
  type        = bool
  default     = false
}

variable "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets that hold only the NAT gateways, one per availability zone (used when enable_nat_gateway)."
  type        = list(string)
  default     = ["10.40.240.0/24", "10.40.241.0/24"]
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface VPC endpoints (the VPC has no NAT gateway): ECR to pull the worker image, CloudWatch Logs for awslogs, SSM for the task's secrets, CloudWatch (monitoring) for PutMetricData."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "ssm", "monitoring"]
}

################################################################################
# Storage
################################################################################

variable "upload_folder" {
  description = "S3 key prefix of uploaded sources (UPLOAD_FOLDER); IAM policies and lifecycle rules are scoped to it."
  type        = string
  default     = "uploads"
}

variable "results_folder" {
  description = "S3 key prefix of job outputs (RESULTS_FOLDER); IAM policies and lifecycle rules are scoped to it."
  type        = string
  default     = "results"
}

variable "upload_expiration_days" {
  description = "Days after which uploaded sources are deleted (they are only needed until the job ran)."
  type        = number
  default     = 2
}

variable "results_expiration_days" {
  description = "Days after which job outputs are deleted; keep it at least as long as JOB_TTL_SECONDS (7 days by default)."
  type        = number
  default     = 7
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to POST presigned uploads to the bucket and GET results from it, per stage (infra/<stage>.tfvars), such as [\"https://app.example.com\"]. Empty (the default): no CORS rule, so no browser page may use the bucket directly."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a non-empty bucket and ECR repository. Keep false in prod."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (API, workers, VPC flow logs, Redis)."
  type        = number
  default     = 30
}

################################################################################
# Redis (ElastiCache)
################################################################################

variable "redis_node_type" {
  description = "ElastiCache node type of the Redis replication group."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_engine_version" {
  description = "Redis engine version (cluster mode stays disabled: Celery's Redis transport does not support it)."
  type        = string
  default     = "7.1"
}

variable "redis_parameter_group_family" {
  description = "Parameter group family matching redis_engine_version."
  type        = string
  default     = "redis7"
}

variable "redis_num_cache_clusters" {
  description = "Nodes in the replication group: one primary plus replicas (2 or more enables Multi-AZ automatic failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 2
    error_message = "Use at least two nodes so a primary failure fails over."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of automatic Redis snapshots to keep (job records and queued tasks)."
  type        = number
  default     = 3
}

################################################################################
# Workers (ECS Fargate)
################################################################################

variable "worker_image_tag" {
  description = "Tag of the worker image in the ECR repository (tags are immutable: use a new tag, such as the git commit, for every build)."
  type        = string
}

variable "worker_cpu" {
  description = "CPU units of one worker task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory (MiB) of one worker task."
  type        = number
  default     = 2048
}

variable "webhook_tasks" {
  description = "Webhook worker tasks (deliveries wait on the network, so one task of threads goes far)."
  type        = number
  default     = 1

  validation {
    condition     = var.webhook_tasks >= 1
    error_message = "At least one webhook task, or webhooks are never sent."
  }
}

variable "webhook_concurrency" {
  description = "Delivery threads per webhook task (WEBHOOK_CONCURRENCY)."
  type        = number
  default     = 16
}

variable "worker_cpu_architecture" {
  description = "CPU architecture of the worker image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.worker_cpu_architecture)
    error_message = "worker_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "worker_concurrency" {
  description = "Celery processes per task (WORKER_COUNT)."
  type        = number
  default     = 2
}

variable "worker_environment" {
  description = "Extra plain environment variables for the workers (for example TASK_SOFT_TIME_LIMIT); never secrets."
  type        = map(string)
  default     = {}
}

variable "light_worker_tasks" {
  description = "Worker tasks that take light jobs only, so a flood of heavy jobs never holds every worker."
  type        = number
  default     = 1

  validation {
    condition     = var.light_worker_tasks >= 1
    error_message = "At least one light-only worker task."
  }
}

variable "worker_min_tasks" {
  description = "Fewest worker tasks. At least 1: backlog per task divides by the running task count."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_min_tasks >= 1
    error_message = "worker_min_tasks must be at least 1."
  }
}

variable "worker_max_tasks" {
  description = "Most worker tasks autoscaling may run."
  type        = number
  default     = 10
}

variable "backlog_per_task_target" {
  description = "Target of the autoscaling policy: queued jobs per running worker task (about acceptable queue wait / job duration x WORKER_COUNT)."
  type        = number
  default     = 10
}

################################################################################
# Queue and metrics
################################################################################

variable "celery_queue" {
  description = "Name of the Celery queue (a Redis list) the API fills and the workers drain (CELERY_QUEUE)."
  type        = string
  default     = "images"
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the service's own metrics (POWERTOOLS_METRICS_NAMESPACE): QueueLength, QueueOldestJobAge, DeadLetters, JobsSubmitted, JobsCompleted, JobsFailed, JobDuration; each with the dimension service=<name>-<stage>."
  type        = string
  default     = "MediaJobs"
}

################################################################################
# API
################################################################################

variable "api_throttle_rate_limit" {
  description = "Steady-state requests per second the API stage accepts."
  type        = number
  default     = 50
}

variable "api_throttle_burst_limit" {
  description = "Burst of requests the API stage accepts."
  type        = number
  default     = 100
}

################################################################################
# Alarms
################################################################################

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; empty for none (subscribe something else to the alarm_topic_arn output)."
  type        = string
  default     = ""
}

variable "failed_jobs_alarm_threshold" {
  description = "Failed jobs in 5 minutes that raise the failed-jobs alarm."
  type        = number
  default     = 5
}

variable "queue_backlog_alarm_threshold" {
  description = "Queued jobs that, sustained for 15 minutes, raise the backlog alarm."
  type        = number
  default     = 200
}

variable "queue_age_alarm_seconds" {
  description = "Age in seconds of the oldest queued job that raises the queue-age alarm."
  type        = number
  default     = 600
}
