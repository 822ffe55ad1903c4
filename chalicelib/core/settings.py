"""``Settings.from_env()``: the one place that reads the service's environment.

It imports nothing of the service: what is built from settings (a tenant's default
limits, the callback policy) is built where it lives, from a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def setting(default: Any, doc: str) -> Any:
    """A settings field with its one-line meaning (docs/OPERATIONS.md is generated from it)."""
    return field(default=default, metadata={"doc": doc})


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

    Field names are the environment variable names, lower-cased; each says what it
    means (``setting(default, doc)``), and the settings table of docs/OPERATIONS.md
    is generated from them.
    """

    stage: str = setting(
        "local",
        "`local` for `make dev`, the tests and compose; the deployed stages set `dev` or "
        "`prod`, which refuse unsafe settings (a worker will not start without "
        "`WEBHOOK_SECRET`)",
    )
    debug: bool = setting(False, "more logging (errors never show a trace to clients)")
    redis_url: str = setting(
        "redis://127.0.0.1:6379/0",
        "job records; also the broker unless `CELERY_BROKER_URL` is set",
    )
    celery_broker_url: str = setting("", "Celery broker; empty: `REDIS_URL`")
    celery_result_backend: str = setting(
        "", "optional Celery result backend (job state lives in the job record)"
    )
    celery_queue: str = setting("images", "the queue of processing tasks")
    redis_key_prefix: str = setting(
        "",
        "goes before every Redis key of the service (job records, indexes, idempotency "
        "keys, dead letters, tenants, limits), so that stacks sharing one Redis stay apart",
    )
    worker_count: int = setting(2, "worker processes `make dev` starts")
    s3_bucket: str = setting("media-jobs-local", "the private bucket")
    upload_folder: str = setting(
        "uploads", "key prefix of sources: `<UPLOAD_FOLDER>/<job_id>/source`"
    )
    results_folder: str = setting("results", "key prefix of outputs and `result.json`")
    aws_endpoint_url: str = setting(
        "", "S3 endpoint (LocalStack or moto); empty means AWS, or moto under `make dev`"
    )
    s3_public_endpoint_url: str = setting(
        "",
        "where clients reach S3, for presigned links, when not at `AWS_ENDPOINT_URL` (the "
        "compose stack: the service says http://localstack:4566, a client "
        "http://127.0.0.1:4566); empty: `AWS_ENDPOINT_URL`",
    )
    aws_region: str = setting("us-east-1", "region (also read from `AWS_DEFAULT_REGION`)")
    max_upload_bytes: int = setting(
        10 * 1024 * 1024,
        "request body limit (the deployed API: 4.5 MB, under Lambda's 6 MB after base64)",
    )
    max_source_bytes: int = setting(
        50 * 1024 * 1024,
        "largest source image a worker reads (direct-to-S3 uploads may exceed the body limit)",
    )
    max_text_chars: int = setting(10_000, "text limit, in characters")
    max_image_pixels: int = setting(
        100_000_000, "pixel limit, checked from the header before decoding"
    )
    max_image_dimension: int = setting(20_000, "largest width or height")
    max_image_frames: int = setting(200, "most frames of an animation")
    max_decode_bytes: int = setting(
        768 * 1024 * 1024,
        "memory one job may spend decoding its source: pixels as decoded, the working copy, "
        "the codec's buffers, every frame when an animation is kept; sized for a 2 GB "
        "worker task running two pool processes (docs/HOSTILE_INPUT.md has the figures)",
    )
    worker_heap_keep_bytes: int = setting(
        128 * 1024 * 1024,
        "freed heap a worker pool process keeps for its next job (bytes): over it (its "
        "resident memory past its size at start) it gives free pages back after a job; "
        "kept pages spare the next job their page faults (15-50 ms of CPU a 12 MP job)",
    )
    model_cache_dir: str = setting(
        "",
        "where a worker keeps its converted language model, memory-mapped and shared by "
        "its processes; empty: `$XDG_CACHE_HOME/media-jobs` (`~/.cache/media-jobs`); the "
        "worker image builds it into `/opt/models`",
    )
    job_ttl_seconds: int = setting(7 * 24 * 3600, "life of a job record (seconds)")
    result_url_ttl: int = setting(900, "expiry of presigned output links (seconds)")
    task_soft_time_limit: int = setting(
        120, "a job still running after this many seconds fails with `timeout`"
    )
    task_hard_time_limit: int = setting(
        150, "the worker process running a job this long is killed (seconds)"
    )
    visibility_timeout: int = setting(
        300,
        "a task unacknowledged this long is redelivered; above the hard limit, else a "
        "slow task would run twice",
    )
    task_max_retries: int = setting(
        5, "retries in place, with backoff, of a job's transient S3/Redis errors"
    )
    processing_lease_seconds: int = setting(
        30,
        "a worker renews its lease on a processing job every third of this; a job whose "
        "lease lapsed (its worker died or lost Redis) is queued again by the reconciler",
    )
    reconcile_pending_grace: int = setting(
        60, "a pending job with no task this long after its last update is queued again"
    )
    api_port: int = setting(8000, "port of the local API server under `make dev`")
    powertools_metrics_namespace: str = setting("MediaJobs", "CloudWatch namespace of the metrics")
    powertools_service_name: str = setting(
        "media-jobs-local", "the `service` field of logs and metrics"
    )
    upload_url_ttl: int = setting(900, "expiry of presigned upload POSTs (seconds)")
    idempotency_ttl_seconds: int = setting(
        24 * 3600, "how long an Idempotency-Key is remembered (seconds)"
    )
    api_keys: str = setting(
        "",
        "comma-separated keys, each a tenant of its own (the zero-setup way in; stored "
        "tenants come from `python -m scripts.ops tenants create`)",
    )
    allow_anonymous: bool = setting(
        False,
        "admit requests without `X-Api-Key` (as the `anonymous` tenant) outside the local "
        "stage too; a local stage without `API_KEYS` always does",
    )
    tenant_requests_per_second: float = setting(
        20.0, "a tenant's steady request rate (token bucket); over it: `429`"
    )
    tenant_burst: int = setting(40, "a tenant's burst of requests above that rate")
    tenant_jobs_in_flight: int = setting(20, "a tenant's jobs not yet completed or failed")
    tenant_heavy_jobs_in_flight: int = setting(
        2, "a tenant's heavy jobs (over `HEAVY_JOB_WORK_MS`) in flight at once"
    )
    tenant_work_seconds_per_hour: int = setting(
        1800, "a tenant's estimated work in any hour (a sliding window), in seconds of one core"
    )
    tenant_presets: int = setting(50, "a tenant's stored option presets (`PUT /api/presets/…`)")
    max_job_work_ms: int = setting(
        10_000,
        "the most estimated work one job may order (ms of one core; see docs/API.md's "
        "cost model): about a twelfth of the soft time limit on the reference machine",
    )
    work_limit_factor: float = setting(
        4.0,
        "a running job is stopped (`work_limit_exceeded`) past its price times this "
        "(chalicelib/media/cost.py, `work_limit_seconds`)",
    )
    work_limit_floor_seconds: float = setting(
        5.0, "the least time a job may run whatever its price (its work limit's floor)"
    )
    heavy_job_work_ms: int = setting(
        1_000, "a job estimated over this goes to the heavy queue (`<CELERY_QUEUE>-heavy`)"
    )
    webhook_secret: str = setting(
        "",
        "the key the webhook secrets of `API_KEYS` tenants are derived from (HMAC-SHA256), "
        "and the local `anonymous` tenant's own (from SSM in the cloud); "
        "required outside `local`",
    )
    webhook_secret_previous: str = setting(
        "", "during a rotation, the old key, which keeps signing beside the new one"
    )
    allow_private_callbacks: bool = setting(
        False, "allow webhooks to loopback and private addresses (`.env.example`: true)"
    )
    webhook_ports: str = setting(
        "80,443",
        "ports a callback URL may name, comma-separated, or `any` (`.env.example`: any; "
        "the cloud: 443)",
    )
    webhook_max_retries: int = setting(8, "webhook retries, backoff 5 s doubling to 10 min")
    webhook_timeout: float = setting(
        10.0, "one delivery attempt in all: connect, TLS, send, answer (seconds)"
    )
    webhook_queue: str = setting("", "the webhooks' own queue; empty: `<CELERY_QUEUE>-webhooks`")
    webhook_concurrency: int = setting(8, "delivery threads of a webhook worker")
    cors_allow_origins: str = setting(
        "",
        "browser origins (`https://app.example.com`, comma-separated) allowed to call the API "
        "(CORS); empty: none. Read when `app.py` is imported: API Gateway answers preflights "
        "from what `chalice package` saw, so set it there too (and one origin only there)",
    )
    redis_socket_timeout: float = setting(
        5.0, "Redis connect and read timeout: an outage is a quick 503, not a hang (seconds)"
    )

    _INT_MINIMUMS: ClassVar[dict[str, int]] = {
        "worker_count": 1,
        "webhook_concurrency": 1,
        "tenant_burst": 1,
        "tenant_jobs_in_flight": 1,
        "max_job_work_ms": 1,
        "max_upload_bytes": 1,
        "result_url_ttl": 1,
        "max_decode_bytes": 1,
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
        if self.processing_lease_seconds < 3:
            raise SettingsError("PROCESSING_LEASE_SECONDS must be at least 3")
        if not self.s3_bucket:
            raise SettingsError("S3_BUCKET must be set")
        for name in ("upload_folder", "results_folder"):
            value = getattr(self, name)
            if not value or value.startswith("/") or ".." in value.split("/"):
                raise SettingsError(f"{name.upper()} must be a relative S3 key prefix")
        if not self.work_limit_factor >= 1 or not self.work_limit_floor_seconds > 0:
            raise SettingsError(
                "WORK_LIMIT_FACTOR must be at least 1 and WORK_LIMIT_FLOOR_SECONDS positive"
            )
        if not self.webhook_timeout > 0:
            raise SettingsError("WEBHOOK_TIMEOUT must be a positive number of seconds")
        self.callback_ports  # noqa: B018 (parses WEBHOOK_PORTS, raising on a bad value)
        self.cors_origins  # noqa: B018 (parses CORS_ALLOW_ORIGINS, raising on a bad value)

    def check_webhook_signing(self) -> None:
        """Refuse to sign webhooks with no secret, except on a local stack."""
        if not self.webhook_secret and self.stage != "local":
            raise SettingsError(
                f"WEBHOOK_SECRET must be set in the {self.stage!r} stage: "
                "webhooks are signed with it"
            )

    @property
    def webhook_secrets(self) -> list[str]:
        """The secrets webhooks are signed with: the current one, then the previous one."""
        return [s for s in (self.webhook_secret, self.webhook_secret_previous) if s]

    @property
    def callback_ports(self) -> frozenset[int] | None:
        """The ports a callback URL may use; None allows any."""
        raw = self.webhook_ports.strip().lower()
        if raw in ("any", "*"):
            return None
        try:
            ports = frozenset(int(p) for p in raw.split(",") if p.strip())
        except ValueError:
            raise SettingsError(
                f"WEBHOOK_PORTS must be port numbers or 'any', not {self.webhook_ports!r}"
            ) from None
        if not ports or not all(0 < p < 65536 for p in ports):
            raise SettingsError("WEBHOOK_PORTS must list ports 1..65535 or 'any'")
        return ports

    @property
    def cors_origins(self) -> list[str]:
        """The origins of ``CORS_ALLOW_ORIGINS``, each ``scheme://host[:port]``."""
        origins = [o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip()]
        for origin in origins:
            scheme, _, host = origin.partition("://")
            if scheme not in ("http", "https") or not host or "/" in host:
                raise SettingsError(
                    f"CORS_ALLOW_ORIGINS holds origins like https://app.example.com, not {origin!r}"
                )
        return origins

    @property
    def webhooks_queue(self) -> str:
        return self.webhook_queue or f"{self.celery_queue}-webhooks"

    @property
    def allow_anonymous_requests(self) -> bool:
        """Whether a request without a key acts as the ``anonymous`` tenant."""
        return self.allow_anonymous or (self.stage == "local" and not self.api_key_list)

    @property
    def heavy_queue(self) -> str:
        """Jobs estimated over ``HEAVY_JOB_WORK_MS`` wait here, apart from the light ones."""
        return f"{self.celery_queue}-heavy"

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def endpoint_url(self) -> str | None:
        return self.aws_endpoint_url or None
