"""In-memory stand-ins for the job store, the object store and the queues (the fast tier).

Each implements the same interface as the real one (``JobStore``, ``ObjectStore``,
``TaskQueue``, ``QueueInspector``) with the same rules: the job store keeps records
as the same string fields and moves statuses only along ``jobs.ALLOWED_TRANSITIONS``;
the object store uses the real key layout. ``fake_backends`` wires them together,
with fakeredis behind the dead letters and the idempotency keys.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import fakeredis

from chalicelib.backends import Backends
from chalicelib.broker.dead_letters import DeadLetters
from chalicelib.core.errors import ServiceUnavailable, SourceMissing
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job
from chalicelib.jobs.storage import S3ObjectStore
from chalicelib.jobs.store import field_value
from chalicelib.tenancy.idempotency import IdempotencyKeys
from chalicelib.tenancy.limits import TenantQuotas
from chalicelib.tenancy.tenants import TenantStore
from chalicelib.tenancy.uploads import UploadRegistry


class InMemoryJobStore:
    """``JobStore`` in a dict: records as strings, transitions checked as in the Lua script."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, str]] = {}
        self.active: dict[str, float] = {}
        self.down = False

    def _available(self) -> None:
        if self.down:
            raise ServiceUnavailable("The job store is unavailable; try again shortly.")

    def create(self, job: Job) -> bool:
        self._available()
        if job.job_id in self.records:
            return False
        self.records[job.job_id] = job.to_record()
        self.active[job.job_id] = job.created_at
        return True

    def get(self, job_id: str) -> Job | None:
        self._available()
        record = self.records.get(job_id)
        return Job.from_record(dict(record)) if record else None

    def transition(self, job_id: str, target: str, **fields: Any) -> tuple[bool, str | None]:
        self._available()
        record = self.records.get(job_id)
        if record is None:
            return False, None
        before = record["status"]
        if not jobs.can_transition(before, target):
            return False, before
        record.update({k: field_value(v) for k, v in fields.items()})
        record["status"] = target
        record["updated_at"] = repr(time.time())
        if target in jobs.TERMINAL:
            self.active.pop(job_id, None)
        return True, before

    def update_while(self, job_id: str, status: str, **fields: Any) -> bool:
        self._available()
        record = self.records.get(job_id)
        if record is None or record["status"] != status:
            return False
        record.update({k: field_value(v) for k, v in fields.items()})
        record["updated_at"] = repr(time.time())
        return True

    def count_attempt(self, job_id: str, by: int = 1) -> int:
        self._available()
        record = self.records.setdefault(job_id, {})
        record["attempts"] = str(int(record.get("attempts") or 0) + by)
        return int(record["attempts"])

    def delete(self, job_id: str) -> bool:
        self._available()
        self.active.pop(job_id, None)
        return self.records.pop(job_id, None) is not None

    def active_before(self, created_before: float, limit: int = 1000) -> list[str]:
        self._available()
        ordered = sorted(self.active.items(), key=lambda item: item[1])
        return [job_id for job_id, created in ordered if created <= created_before][:limit]

    def forget_active(self, job_id: str) -> None:
        self.active.pop(job_id, None)

    def ping(self) -> None:
        self._available()


class InMemoryObjectStore(S3ObjectStore):
    """``ObjectStore`` in a dict, with the real store's key layout (inherited)."""

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
        return self.objects[key][0]

    def copy(self, source: str, target: str) -> None:
        self._available()
        if source not in self.objects:
            raise SourceMissing()
        self.objects[target] = self.objects[source]

    def put_json(self, key: str, document: Any) -> None:
        self.put(key, json.dumps(document, sort_keys=True).encode(), "application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

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
    unacked: set[str] = field(default_factory=set)
    down: bool = False

    def enqueue(self, job_id: str, queue: str | None = None) -> None:
        if self.down:
            raise ServiceUnavailable("The job queue is unavailable; try again shortly.")
        self.enqueued.append(job_id)
        self.queues[job_id] = queue or "default"

    def queue_length(self) -> int:
        return len(self.enqueued)

    def oldest_task_id(self) -> str | None:
        return self.enqueued[0] if self.enqueued else None

    def known_task_ids(self) -> set[str]:
        return {*self.enqueued, *self.unacked}


@dataclass
class FakeWorld:
    """``Backends`` in memory, with its fakes typed for the tests that look inside them."""

    backends: Backends
    store: InMemoryJobStore
    objects: InMemoryObjectStore
    queue: RecordingQueue


def fake_world(settings: Settings | None = None) -> FakeWorld:
    """A whole ``Backends`` in memory: fakes for the stores and queue, fakeredis for the rest."""
    settings = settings or Settings.from_env({})
    # fakeredis runs the Lua scripts of the quotas and uploads too (through lupa).
    client = fakeredis.FakeRedis(decode_responses=True)
    store, objects, queue = InMemoryJobStore(), InMemoryObjectStore(settings), RecordingQueue()
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
    )
    return FakeWorld(backends, store, objects, queue)
