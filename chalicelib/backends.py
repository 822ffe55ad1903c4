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
from chalicelib.jobs.contract import DEAD_LETTER_KEY
from chalicelib.jobs.storage import ObjectStore, S3ObjectStore
from chalicelib.jobs.store import JobStore, RedisJobStore
from chalicelib.tenancy.idempotency import IdempotencyKeys
from chalicelib.tenancy.limits import TenantQuotas
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
    workers: WorkerFacts

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
        )
