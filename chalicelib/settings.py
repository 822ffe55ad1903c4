"""``Settings.from_env()``: the one place that reads the service's environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Every setting of the API and the workers, with safe local defaults.

    Field names are the environment variable names, lower-cased.
    """

    debug: bool = False
    secret_key: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Empty means "same as REDIS_URL": the seed's names keep working when set.
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    celery_queue: str = "images"
    # Goes before every Redis key of the service (job records, the active index,
    # idempotency keys, dead letters), so stacks sharing one Redis stay apart.
    redis_key_prefix: str = ""
    worker_count: int = 2
    s3_bucket: str = "media-jobs-local"
    upload_folder: str = "uploads"
    results_folder: str = "results"
    aws_endpoint_url: str = ""
    # Where clients reach S3, for presigned links, when not at AWS_ENDPOINT_URL
    # (the compose stack: the service says http://localstack:4566, a client
    # http://127.0.0.1:4566). Empty: AWS_ENDPOINT_URL.
    s3_public_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    max_upload_bytes: int = 10 * 1024 * 1024
    # Largest source image a worker reads (direct-to-S3 uploads can exceed the API's).
    max_source_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 10_000
    max_image_pixels: int = 100_000_000
    max_image_dimension: int = 20_000
    max_image_frames: int = 200
    job_ttl_seconds: int = 7 * 24 * 3600
    result_url_ttl: int = 900
    task_soft_time_limit: int = 120
    task_hard_time_limit: int = 150
    # Must stay above the hard limit, else a slow task would be delivered twice.
    visibility_timeout: int = 300
    task_max_retries: int = 5
    # A pending job with no task this long after its last update is queued again.
    reconcile_pending_grace: int = 60
    api_port: int = 8000
    # CloudWatch metrics and log fields; Terraform sets both in the cloud.
    powertools_metrics_namespace: str = "MediaJobs"
    powertools_service_name: str = "media-jobs-local"
    # Direct-to-S3 uploads: how long a presigned POST stays usable.
    upload_url_ttl: int = 900
    idempotency_ttl_seconds: int = 24 * 3600
    # Comma-separated; when set, every /api/* route but /api/health needs X-Api-Key.
    api_keys: str = ""
    # HMAC-SHA256 key of the X-Signature header of webhook calls.
    webhook_secret: str = ""
    # Webhooks to loopback and private addresses are refused unless this is true.
    allow_private_callbacks: bool = False
    webhook_max_retries: int = 8
    redis_socket_timeout: float = 5.0

    _INT_MINIMUMS: ClassVar[dict[str, int]] = {
        "worker_count": 1,
        "max_upload_bytes": 1,
        "result_url_ttl": 1,
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); unknown keys are ignored."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.name.upper()
            if name == "AWS_REGION":
                raw = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            else:
                raw = env.get(name)
            if raw is None:
                continue
            if f.type == "bool":
                values[f.name] = _bool(name, raw)
            elif f.type == "int":
                values[f.name] = _int(name, raw, cls._INT_MINIMUMS.get(f.name, 0))
            elif f.type == "float":
                try:
                    values[f.name] = float(raw)
                except ValueError:
                    raise SettingsError(f"{name} must be a number, not {raw!r}") from None
            else:
                values[f.name] = raw.strip()
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject combinations that would break the delivery guarantees."""
        if self.task_hard_time_limit <= self.task_soft_time_limit:
            raise SettingsError("TASK_HARD_TIME_LIMIT must be above TASK_SOFT_TIME_LIMIT")
        if self.visibility_timeout <= self.task_hard_time_limit:
            raise SettingsError("VISIBILITY_TIMEOUT must be above TASK_HARD_TIME_LIMIT")
        if not self.s3_bucket:
            raise SettingsError("S3_BUCKET must be set")
        for name in ("upload_folder", "results_folder"):
            value = getattr(self, name)
            if not value or value.startswith("/") or ".." in value.split("/"):
                raise SettingsError(f"{name.upper()} must be a relative S3 key prefix")

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def endpoint_url(self) -> str | None:
        return self.aws_endpoint_url or None
