# A VPC whose workloads run in private subnets only.
#
# AWS traffic never leaves the VPC: S3 through a gateway endpoint (free), and
# the APIs the service calls (ECR, CloudWatch Logs and metrics, SSM) through
# interface endpoints. The only internet traffic is the workers' webhook calls
# (worker/webhooks/delivery.py POSTs a finished job to its callback URL), so:
#
# - a NAT gateway (enable_nat_gateway, on by default; one for the VPC unless
#   nat_gateway_per_az) gives the private subnets a way out, and
# - only the worker security group may use it, and only on port 443. The API
#   Lambda has no internet egress at all.
#
# A stage that never uses callbacks can set enable_nat_gateway = false: then
# nothing in the VPC can reach the internet, and AWS is still reachable
# through the endpoints. Endpoints rather than NAT for AWS traffic also keep
# image pulls and S3 transfers off NAT's per-GB processing charge.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # needed by the interface endpoints' private DNS

  tags = { Name = local.name }
}

# Strip every rule from the default security group, so nothing that falls
# back to it is reachable or can reach out.
resource "aws_default_security_group" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-default-deny" }
}

resource "aws_subnet" "private" {
  count = length(var.private_subnet_cidrs)

  vpc_id                  = aws_vpc.main.id
  cidr_block              = var.private_subnet_cidrs[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table" "private" {
  count = length(aws_subnet.private)

  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

################################################################################
# Internet egress for webhooks (optional): public subnets, NAT gateway(s)
################################################################################

locals {
  nat_gateway_count = var.enable_nat_gateway ? (var.nat_gateway_per_az ? length(var.private_subnet_cidrs) : 1) : 0
}

resource "aws_subnet" "public" {
  count = var.enable_nat_gateway ? length(var.public_subnet_cidrs) : 0

  vpc_id                  = aws_vpc.main.id
  cidr_block              = var.public_subnet_cidrs[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false # only the NAT gateways live here, with their own EIPs

  tags = { Name = "${local.name}-public-${local.azs[count.index]}" }
}

resource "aws_internet_gateway" "main" {
  count = var.enable_nat_gateway ? 1 : 0

  vpc_id = aws_vpc.main.id

  tags = { Name = local.name }
}

resource "aws_route_table" "public" {
  count = var.enable_nat_gateway ? 1 : 0

  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-public" }
}

resource "aws_route" "public_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.main[0].id
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = { Name = "${local.name}-nat-${count.index}" }

  depends_on = [aws_internet_gateway.main]
}

resource "aws_nat_gateway" "main" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${local.name}-nat-${count.index}" }
}

resource "aws_route" "private_nat" {
  count = var.enable_nat_gateway ? length(aws_route_table.private) : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.main[var.nat_gateway_per_az ? count.index : 0].id
}

################################################################################
# Endpoints
################################################################################

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  # Only the service's bucket and the bucket ECR serves image layers from:
  # the endpoint is no way out to anyone else's bucket.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ServiceBucket"
        Effect    = "Allow"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
      },
      {
        Sid       = "EcrImageLayers"
        Effect    = "Allow"
        Principal = "*"
        Action    = "s3:GetObject"
        Resource  = "arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"
      },
    ]
  })

  tags = { Name = "${local.name}-s3" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoint_services)

  vpc_id              = aws_vpc.main.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = { Name = "${local.name}-${each.value}" }
}

################################################################################
# Security groups: the API Lambda, the workers, the webhook workers, Redis, the endpoints
################################################################################

resource "aws_security_group" "api" {
  #checkov:skip=CKV2_AWS_5:Attached to the API Lambda in the Chalice-generated chalice.tf.json, which checkov's terraform framework does not read.
  name        = "${local.name}-api"
  description = "API Lambda: out to Redis, S3 and the AWS endpoints only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-api" }
}

resource "aws_security_group" "worker" {
  name        = "${local.name}-worker"
  description = "Celery image workers: out to Redis, S3 and the AWS endpoints only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-worker" }
}

resource "aws_security_group" "webhooks" {
  name        = "${local.name}-webhooks"
  description = "Webhook workers: out to Redis, S3, the AWS endpoints and HTTPS callbacks"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-webhooks" }
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "ElastiCache Redis: in from the API and the workers only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-redis" }
}

resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS in from the API and the workers"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-endpoints" }
}

locals {
  # Both clients of Redis and the endpoints get the same egress.
  client_security_groups = {
    api      = aws_security_group.api.id
    worker   = aws_security_group.worker.id
    webhooks = aws_security_group.webhooks.id
  }
}

resource "aws_vpc_security_group_egress_rule" "to_redis" {
  for_each = local.client_security_groups

  security_group_id            = each.value
  description                  = "Redis (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_vpc_security_group_egress_rule" "to_endpoints" {
  for_each = local.client_security_groups

  security_group_id            = each.value
  description                  = "AWS APIs through the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_egress_rule" "to_s3" {
  for_each = local.client_security_groups

  security_group_id = each.value
  description       = "S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

# Webhook calls to the clients' callback URLs (HTTPS only), through the NAT: the
# webhook workers alone reach the internet; the image workers never do.
resource "aws_vpc_security_group_egress_rule" "webhooks_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  security_group_id = aws_security_group.webhooks.id
  description       = "Webhook calls (HTTPS) to callback URLs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_clients" {
  for_each = local.client_security_groups

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_clients" {
  for_each = local.client_security_groups

  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

################################################################################
# Flow logs
################################################################################

resource "aws_flow_log" "main" {
  vpc_id               = aws_vpc.main.id
  traffic_type         = "REJECT"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_338:Retention is a per-stage choice (var.log_retention_days); a year of rejected-packet logs is not needed for this service.
  name              = "/vpc/${local.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
