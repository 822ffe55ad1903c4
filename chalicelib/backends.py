"""The service's backing clients, built once from ``Settings``: Redis, S3, the broker.

Nothing connects here: redis-py and boto3 connect on first use. The API, the
workers and the operator commands each build one ``Backends`` and pass its
parts to the code that needs them; tests pass fakes instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from chalicelib.broker.dead_letters import DeadLetters
from chalicelib.broker.inspection import KombuRedisInspector, QueueInspector
from chalicelib.broker.producer import CeleryTaskQueue, TaskQueue
from chalicelib.broker.workers import WORKER_FACTS_KEY, WorkerFacts
from chalicelib.core.redis_client import make_redis_client
from chalicelib.core.settings import Settings
from chalicelib.jobs.batch_feed import BatchFeeder
from chalicelib.jobs.batches import BatchStore
from chalicelib.jobs.contract import DEAD_LETTER_KEY
from chalicelib.jobs.storage import ObjectStore, S3ObjectStore
from chalicelib.jobs.store import JobStore, RedisJobStore
from chalicelib.tenancy.idempotency import IdempotencyKeys
from chalicelib.tenancy.limits import TenantLimits, TenantQuotas
from chalicelib.tenancy.presets import PresetStore
from chalicelib.tenancy.tenants import TenantStore
from chalicelib.tenancy.uploads import UploadRegistry


@dataclass(frozen=True)
class Backends:
    """Every client of one process, sharing one Redis connection pool."""

    settings: Settings
    redis: redis.Redis
    store: JobStore
    objects: ObjectStore
    queue: TaskQueue
    inspector: QueueInspector
    dead_letters: DeadLetters
    idempotency: IdempotencyKeys
    tenants: TenantStore
    quotas: TenantQuotas
    uploads: UploadRegistry
    presets: PresetStore
    workers: WorkerFacts
    batches: BatchStore

    def batch_feeder(self) -> BatchFeeder:
        """The feeder of batches' waiting jobs over these clients."""
        return BatchFeeder(self.batches, self.store, self.queue, TenantSlots(self))

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        client = make_redis_client(settings)
        broker = (
            client
            if settings.broker_url == settings.redis_url
            else make_redis_client(settings, settings.broker_url)
        )
        # REDIS_KEY_PREFIX goes before every key, so stacks sharing one Redis stay apart.
        prefix = settings.redis_key_prefix
        return cls(
            settings=settings,
            redis=client,
            store=RedisJobStore(client, settings.job_ttl_seconds, namespace=prefix),
            objects=S3ObjectStore.from_settings(settings),
            queue=CeleryTaskQueue(settings),
            inspector=KombuRedisInspector(
                broker, settings.celery_queue, others=(settings.heavy_queue,)
            ),
            dead_letters=DeadLetters(client, key=prefix + DEAD_LETTER_KEY),
            idempotency=IdempotencyKeys(
                client, settings.idempotency_ttl_seconds, prefix=prefix + "idempotency:"
            ),
            tenants=TenantStore(client, settings, prefix=prefix),
            quotas=TenantQuotas(client, prefix=prefix),
            uploads=UploadRegistry(client, settings.upload_url_ttl, prefix=prefix),
            workers=WorkerFacts(client, key=prefix + WORKER_FACTS_KEY),
            presets=PresetStore(client, prefix=prefix),
            batches=BatchStore(client, settings.job_ttl_seconds, namespace=prefix),
        )


@dataclass(frozen=True)
class TenantSlots:
    """A tenant's jobs in flight for the batch feeder: its own limits, from its record."""

    backends: Backends

    def admit_waiting(
        self, tenant_id: str, waiting_key: str, heavy_key: str, most: int
    ) -> list[str]:
        settings = self.backends.settings
        tenant = self.backends.tenants.get(tenant_id)
        # A tenant removed meanwhile: its batch still ends, under the default limits.
        limits = tenant.limits_from(settings) if tenant else TenantLimits.from_settings(settings)
        return self.backends.quotas.admit_waiting(tenant_id, waiting_key, heavy_key, limits, most)

    def release(self, tenant_id: str, job_id: str) -> None:
        self.backends.quotas.release_job(tenant_id, job_id)
