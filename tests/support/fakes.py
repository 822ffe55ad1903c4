"""The fast tier's backends in this process: real Redis code on fakeredis, fakes of S3 and queue.

Everything kept in Redis is the real code on fakeredis, which runs the Lua scripts:
the job store (``FakeRedisJobStore`` is ``RedisJobStore`` with a switch to take it
down and views for the tests), the dead letters, idempotency keys, tenants, quotas
and uploads. The object store and the queue are fakes of the same interface
(``ObjectStore``, ``TaskQueue``, ``QueueInspector``): the object store inherits the
real key layout. ``fake_world`` wires them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import fakeredis

from chalicelib.backends import Backends
from chalicelib.broker.dead_letters import DeadLetters
from chalicelib.broker.inspection import KnownTasks
from chalicelib.broker.workers import WorkerFacts
from chalicelib.core.errors import ServiceUnavailable, SourceMissing, UploadTooLarge
from chalicelib.core.settings import Settings
from chalicelib.jobs.batches import BatchStore
from chalicelib.jobs.storage import S3ObjectStore
from chalicelib.jobs.store import RedisJobStore
from chalicelib.tenancy.idempotency import IdempotencyKeys
from chalicelib.tenancy.limits import TenantQuotas
from chalicelib.tenancy.presets import PresetStore
from chalicelib.tenancy.tenants import TenantStore
from chalicelib.tenancy.uploads import UploadRegistry


class FakeRedisJobStore(RedisJobStore):
    """The real ``RedisJobStore`` (its Lua scripts included) on an in-process fakeredis.

    fakeredis runs the scripts through Lua (lupa), so the fast tier tests the store's
    own transitions, not a copy of them. The store has a fakeredis server of its own,
    so ``down`` takes the job store away alone, as the tests of partial outages need.
    """

    def __init__(self, settings: Settings) -> None:
        self._server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=self._server, decode_responses=True)
        super().__init__(client, settings.job_ttl_seconds, namespace=settings.redis_key_prefix)
        self.client = client

    @property
    def down(self) -> bool:
        return not self._server.connected

    @down.setter
    def down(self, value: bool) -> None:
        # fakeredis answers every command with a ConnectionError while disconnected.
        self._server.connected = not value

    @property
    def records(self) -> dict[str, dict[str, str]]:
        """Every job record as Redis holds it (a copy: write through ``set_fields``)."""
        prefix = self.key("")
        return {
            str(key)[len(prefix) :]: dict(self.client.hgetall(key))  # type: ignore[arg-type]
            for key in self.client.scan_iter(match=prefix + "*")
        }

    @property
    def active(self) -> dict[str, float]:
        """The index of active jobs: id -> creation time (a copy)."""
        return dict(self.client.zrange(self.active_index, 0, -1, withscores=True))  # type: ignore[arg-type]

    def set_fields(self, job_id: str, **fields: str) -> None:
        """Overwrite fields of a record as they are, as time or another process would."""
        self.client.hset(self.key(job_id), mapping=fields)

    def lapse_lease(self, job_id: str) -> None:
        """Let the job's lease lapse, as time does when its holder stops renewing it."""
        self.client.delete(self.lease_key(job_id))

    def add_active(self, job_id: str, created_at: float) -> None:
        """Put an id in the active index without a record (a record that expired)."""
        self.client.zadd(self.active_index, {job_id: created_at})


class InMemoryObjectStore(S3ObjectStore):
    """``ObjectStore`` in a dict, with the real store's key layout and JSON (inherited).

    tests/unit/chalicelib/jobs/test_storage.py runs one suite on it and on the real
    store (moto's in-process S3): where the code relies on a behaviour, both have it."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env({})
        super().__init__(None, settings.s3_bucket, settings.upload_folder, settings.results_folder)
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.down = False

    def _available(self) -> None:
        if self.down:
            raise ServiceUnavailable("The object store is unreachable; try again shortly.")

    def put(self, key: str, data: bytes, content_type: str, **extra: Any) -> None:
        self._available()
        self.objects[key] = (bytes(data), content_type)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        self._available()
        if key not in self.objects:
            raise SourceMissing()
        data = self.objects[key][0]
        if max_bytes is not None and len(data) > max_bytes:
            raise UploadTooLarge(f"The stored image is over {max_bytes} bytes.")
        return data

    def copy(self, source: str, target: str) -> None:
        self._available()
        if source not in self.objects:
            raise SourceMissing()
        self.objects[target] = self.objects[source]

    def delete_prefix(self, prefix: str) -> int:
        self._available()
        doomed = [key for key in self.objects if key.startswith(prefix)]
        for key in doomed:
            del self.objects[key]
        return len(doomed)

    def delete(self, key: str) -> None:
        self._available()
        self.objects.pop(key, None)

    def presigned_get(self, key: str, expires_in: int) -> str:
        return f"memory://{self.bucket}/{key}?expires={expires_in}"

    def head(self, key: str) -> dict[str, Any]:
        data, content_type = self.objects.get(key) or (None, "")
        if data is None:
            raise SourceMissing()
        return {"bytes": len(data), "content_type": content_type}

    def get_head_bytes(self, key: str, count: int) -> bytes:
        return self.get(key)[:count]

    def presigned_post(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> dict[str, Any]:
        return {
            "url": f"memory://{self.bucket}",
            "fields": {"key": key, "Content-Type": content_type},
        }

    def ping(self) -> None:
        self._available()


@dataclass
class RecordingQueue:
    """``TaskQueue`` and ``QueueInspector`` that remember what was queued."""

    enqueued: list[str] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # job id -> the queue it went to
    unacked: dict[str, float] = field(default_factory=dict)  # job id -> delivered at
    batch_reports: list[str] = field(default_factory=list)  # batch ids notified
    webhooks: list[str] = field(default_factory=list)  # job ids whose webhook was queued
    down: bool = False

    def enqueue(self, job_id: str, queue: str | None = None) -> None:
        if self.down:
            raise ServiceUnavailable("The job queue is unavailable; try again shortly.")
        self.enqueued.append(job_id)
        self.queues[job_id] = queue or "default"

    def notify_batch(self, batch_id: str) -> None:
        if self.down:
            raise ServiceUnavailable("The job queue is unavailable; try again shortly.")
        self.batch_reports.append(batch_id)

    def notify_job(self, job_id: str) -> None:
        if self.down:
            raise ServiceUnavailable("The job queue is unavailable; try again shortly.")
        self.webhooks.append(job_id)

    def queue_length(self) -> int:
        return len(self.enqueued)

    def oldest_task_id(self) -> str | None:
        return self.enqueued[0] if self.enqueued else None

    def known_tasks(self, delivered_after: float = 0.0) -> KnownTasks:
        delivered = {job_id for job_id, at in self.unacked.items() if at >= delivered_after}
        return KnownTasks(waiting=set(self.enqueued), delivered=delivered)


@dataclass
class FakeWorld:
    """``Backends`` in this process, with its parts typed for the tests that look inside."""

    backends: Backends
    store: FakeRedisJobStore
    objects: InMemoryObjectStore
    queue: RecordingQueue


def fake_world(settings: Settings | None = None) -> FakeWorld:
    """A whole ``Backends`` in this process: fakeredis under the real Redis code, fakes for
    S3 and the queue."""
    settings = settings or Settings.from_env({})
    # fakeredis runs the Lua scripts of the quotas and uploads too (through lupa).
    client = fakeredis.FakeRedis(decode_responses=True)
    store = FakeRedisJobStore(settings)
    objects, queue = InMemoryObjectStore(settings), RecordingQueue()
    backends = Backends(
        settings=settings,
        redis=client,
        store=store,
        objects=objects,
        queue=queue,
        inspector=queue,
        dead_letters=DeadLetters(client),
        idempotency=IdempotencyKeys(client, settings.idempotency_ttl_seconds),
        tenants=TenantStore(client, settings),
        quotas=TenantQuotas(client),
        uploads=UploadRegistry(client, settings.upload_url_ttl),
        workers=WorkerFacts(client),
        presets=PresetStore(client),
        batches=BatchStore(client, settings.job_ttl_seconds),
    )
    return FakeWorld(backends, store, objects, queue)
