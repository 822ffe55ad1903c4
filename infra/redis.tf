# Redis on ElastiCache: the Celery broker and the job records.
#
# Cluster mode stays disabled (Celery's Redis transport does not support it);
# a primary and a replica in two AZs with automatic failover, TLS in transit,
# KMS at rest, and an AUTH token kept in Secrets Manager (the whole REDIS_URL,
# token included, is an SSM SecureString for the workers).

# The AUTH token lives in Secrets Manager. Secrets Manager also generates it
# (no extra Terraform provider); ignore_changes keeps the first value, since
# the generator answers a new password on every plan. Rotate by putting a new
# secret version and re-applying (auth_token_update_strategy = ROTATE).
data "aws_secretsmanager_random_password" "redis_auth" {
  password_length = 64
  # ElastiCache refuses @, " and / in tokens; letters and digits also keep the
  # token safe inside a redis:// URL without escaping.
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Automatic rotation needs a rotation Lambda that also updates the replication group; rotation is a manual, documented step (docs/DEPLOY.md).
  name        = "${var.name}/${var.stage}/redis-auth-token"
  description = "AUTH token of the ${local.name} Redis replication group"
  kms_key_id  = aws_kms_key.main.arn
  # Deleted at once on destroy: a recovery window keeps the name taken for its
  # length, so destroying a stage and deploying it again failed for 7 days. The
  # token is not worth recovering: a new one is generated with the new secret.
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = data.aws_secretsmanager_random_password.redis_auth.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# The whole connection URL the service reads as REDIS_URL: TLS (rediss), the
# token, the primary endpoint (which follows a failover) and certificate
# verification, which Celery requires for a rediss:// broker URL.
resource "aws_ssm_parameter" "redis_url" {
  name        = "/${var.name}/${var.stage}/redis-url"
  description = "REDIS_URL of the ${local.name} API and workers"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = local.redis_url
}

locals {
  redis_url = format(
    "rediss://:%s@%s:%d/0?ssl_cert_reqs=required",
    aws_secretsmanager_secret_version.redis_auth.secret_string,
    aws_elasticache_replication_group.main.primary_endpoint_address,
    aws_elasticache_replication_group.main.port,
  )
}

resource "aws_elasticache_subnet_group" "main" {
  name        = local.name
  description = "Private subnets of ${local.name}"
  subnet_ids  = aws_subnet.private[*].id
}

resource "aws_elasticache_parameter_group" "main" {
  name        = "${local.name}-redis"
  family      = var.redis_parameter_group_family
  description = "Redis for Celery: never evict (an evicted key is a lost task or job)"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.name
  description          = "${local.name}: Celery broker and job records"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.main.name

  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.main.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = aws_secretsmanager_secret_version.redis_auth.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = "03:00-04:00"
  maintenance_window         = "sun:05:00-sun:06:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }
}

resource "aws_cloudwatch_log_group" "redis" {
  #checkov:skip=CKV_AWS_338:Retention is a per-stage choice (var.log_retention_days); slow-log entries are operational, not audit, data.
  name              = "/elasticache/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
