# The bucket for uploaded sources (<upload_folder>/<job_id>/source) and job
# outputs (<results_folder>/<job_id>/...). Private, KMS-encrypted, TLS only.
#
# Versioning stays off: objects are transient (expired by the lifecycle rules
# below), a job always writes the same keys, and deleting a job must really
# delete its image rather than keep it as a noncurrent version.

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_21:Versioning is off on purpose: transient, reproducible objects, and job deletion must remove data (see the comment above).
  #checkov:skip=CKV_AWS_144:Cross-region replication would copy short-lived user uploads to a second region for no recovery benefit.
  #checkov:skip=CKV_AWS_18:Server access logging would need a second bucket; API calls on this bucket are audited through CloudTrail.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the API enqueues jobs itself.
  bucket        = "${local.name}-${local.account_id}-${local.region}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket = aws_s3_bucket.media.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One data key per bucket rather than per object: far fewer KMS calls.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id

  versioning_configuration {
    status = "Disabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  # Bucket-wide: a browser upload that never completed costs storage forever.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # A presigned upload a job never claimed: the form lives UPLOAD_URL_TTL, and a
  # claimed one is copied to the job's own key and removed at once.
  rule {
    id     = "expire-unclaimed-uploads"
    status = "Enabled"

    filter {
      prefix = "${var.upload_folder}/incoming/"
    }

    expiration {
      days = 1
    }
  }

  rule {
    id     = "expire-uploads"
    status = "Enabled"

    filter {
      prefix = "${var.upload_folder}/"
    }

    expiration {
      days = var.upload_expiration_days
    }
  }

  rule {
    id     = "expire-results"
    status = "Enabled"

    filter {
      prefix = "${var.results_folder}/"
    }

    expiration {
      days = var.results_expiration_days
    }
  }
}

# The browser posts large images straight to S3 with the presigned POST that
# POST /api/uploads returns, and may fetch results with presigned GET URLs. Only
# for the origins a stage names (cors_allowed_origins, in infra/<stage>.tfvars):
# none by default, so no browser page may use the bucket until a stage says which.
resource "aws_s3_bucket_cors_configuration" "media" {
  count = length(var.cors_allowed_origins) > 0 ? 1 : 0

  bucket = aws_s3_bucket.media.id

  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Location"]
    max_age_seconds = 3000
  }

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    max_age_seconds = 3000
  }
}

data "aws_iam_policy_document" "media_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.media.arn,
      "${aws_s3_bucket.media.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.media.arn,
      "${aws_s3_bucket.media.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media_bucket.json

  # A bucket policy applied before the public access block can be refused.
  depends_on = [aws_s3_bucket_public_access_block.media]
}
