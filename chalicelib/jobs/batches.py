"""Batches: many jobs submitted as one, followed as one and reported by one webhook.

A batch's record and its lists live in Redis beside its jobs' records, under the
stack's key prefix, with the jobs' TTL:

- ``batch:<id>``          hash: tenant, total, preset, callback URL, when notified
- ``batch:<id>:jobs``     list: its job ids in the order given
- ``batch:<id>:waiting``  zset: jobs not yet let into the tenant's jobs in flight
- ``batch:<id>:heavy``    set: its heavy jobs (the tenant's heavy limit applies)
- ``batch:<id>:ended``    set: its jobs that ended (completed, failed or removed)
- ``batches:open``        zset: batches not yet reported, by when the reconciler may
                          look at them (their submit has ended by then)
- ``batches:feeding:<tenant>``  zset: the tenant's batches with waiting jobs

The statuses and the answer built from them are pure functions at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from chalicelib.core.redis_client import redis_errors
from chalicelib.jobs import model as jobs
from chalicelib.jobs.status import iso_time
from chalicelib.jobs.store import JobStore

# Reports a batch once: KEYS[1] its record, KEYS[2] its ended jobs, KEYS[3] the open
# index; ARGV[1] now, ARGV[2] the batch id. When every job has ended and no one has
# reported it yet, marks it reported and returns 1; else 0. Checking and marking in one
# script: two workers ending its last two jobs at once cannot both send its webhook.
_FINISH = """
local total = redis.call('HGET', KEYS[1], 'total')
if not total then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
if redis.call('HGET', KEYS[1], 'notified_at') ~= '' then return 0 end
if redis.call('SCARD', KEYS[2]) < tonumber(total) then return 0 end
redis.call('HSET', KEYS[1], 'notified_at', ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
"""

#: What a batch's status can be: ``partial`` when it ended with some jobs failed.
PARTIAL = "partial"
BATCH_STATUSES = (jobs.PENDING, jobs.PROCESSING, jobs.COMPLETED, jobs.FAILED, PARTIAL)
#: A job of a batch whose record is gone (deleted on its own, or expired).
DELETED = "deleted"
COUNTED = (*jobs.STATUSES, DELETED)


@dataclass(frozen=True)
class Batch:
    """One batch as stored in its record."""

    batch_id: str
    tenant_id: str
    created_at: float
    total: int
    preset: str = ""
    callback_url: str = ""
    idempotency_key: str = ""
    notified_at: float | None = None

    def to_record(self) -> dict[str, str]:
        return {
            "batch_id": self.batch_id,
            "tenant_id": self.tenant_id,
            "created_at": repr(self.created_at),
            "total": str(self.total),
            "preset": self.preset,
            "callback_url": self.callback_url,
            "idempotency_key": self.idempotency_key,
            "notified_at": "" if self.notified_at is None else repr(self.notified_at),
        }

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Batch:
        return cls(
            batch_id=record["batch_id"],
            tenant_id=record["tenant_id"],
            created_at=float(record["created_at"]),
            total=int(record["total"]),
            preset=record.get("preset", ""),
            callback_url=record.get("callback_url", ""),
            idempotency_key=record.get("idempotency_key", ""),
            notified_at=float(record["notified_at"]) if record.get("notified_at") else None,
        )


class BatchStore:
    """Batch records and their job lists in Redis (fakeredis in the fast tests)."""

    OPEN_INDEX = "batches:open"
    FEEDING_INDEX = "batches:feeding:"

    def __init__(self, client: redis.Redis, ttl_seconds: int, namespace: str = ""):
        self._redis = client
        self._ttl = ttl_seconds
        self._namespace = namespace
        self.open_index = namespace + self.OPEN_INDEX
        self._finish = client.register_script(_FINISH)

    def key(self, batch_id: str, part: str = "") -> str:
        return f"{self._namespace}batch:{batch_id}" + (f":{part}" if part else "")

    def waiting_key(self, batch_id: str) -> str:
        return self.key(batch_id, "waiting")

    def heavy_key(self, batch_id: str) -> str:
        return self.key(batch_id, "heavy")

    def feeding_index(self, tenant_id: str) -> str:
        return f"{self._namespace}{self.FEEDING_INDEX}{tenant_id}"

    def create(
        self, batch: Batch, job_ids: list[str], heavy: list[str], reconcile_after: float
    ) -> None:
        """Record the batch with every job waiting, in one transaction, before any job
        record exists: the reconciler then never takes one of its jobs for a lost one."""
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self.key(batch.batch_id), mapping=batch.to_record())  # type: ignore[arg-type]
            pipe.rpush(self.key(batch.batch_id, "jobs"), *job_ids)
            pipe.zadd(self.waiting_key(batch.batch_id), {j: i for i, j in enumerate(job_ids)})
            if heavy:
                pipe.sadd(self.heavy_key(batch.batch_id), *heavy)
            for part in ("", "jobs", "waiting", "heavy"):
                pipe.expire(self.key(batch.batch_id, part), self._ttl)
            pipe.zadd(self.open_index, {batch.batch_id: reconcile_after})
            pipe.execute()

    def get(self, batch_id: str) -> Batch | None:
        with redis_errors():
            record = self._redis.hgetall(self.key(batch_id))
        if not record:
            return None
        try:
            return Batch.from_record(record)  # type: ignore[arg-type]
        except (KeyError, ValueError):
            return None

    def job_ids(self, batch_id: str, start: int = 0, count: int = -1) -> list[str]:
        """The batch's job ids in order: ``count`` from ``start`` (all with -1)."""
        stop = -1 if count < 0 else start + count - 1
        with redis_errors():
            return [str(j) for j in self._redis.lrange(self.key(batch_id, "jobs"), start, stop)]

    def is_waiting(self, batch_id: str, job_id: str) -> bool:
        with redis_errors():
            return self._redis.zscore(self.waiting_key(batch_id), job_id) is not None

    def waiting_count(self, batch_id: str) -> int:
        with redis_errors():
            return int(self._redis.zcard(self.waiting_key(batch_id)))

    def remove_waiting(self, batch_id: str, job_id: str) -> bool:
        """Take a job out of the batch's waiting jobs (it was deleted); True if it was."""
        with redis_errors():
            return bool(self._redis.zrem(self.waiting_key(batch_id), job_id))

    def start_feeding(self, tenant_id: str, batch_id: str, created_at: float) -> None:
        """List the batch among the tenant's batches with waiting jobs (oldest first)."""
        index = self.feeding_index(tenant_id)
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(index, {batch_id: created_at})
            pipe.expire(index, self._ttl)
            pipe.execute()

    def feeding(self, tenant_id: str) -> list[str]:
        with redis_errors():
            return [str(b) for b in self._redis.zrange(self.feeding_index(tenant_id), 0, -1)]

    def stop_feeding(self, tenant_id: str, batch_id: str) -> None:
        with redis_errors():
            self._redis.zrem(self.feeding_index(tenant_id), batch_id)

    def mark_ended(self, batch_id: str, *job_ids: str) -> None:
        """Count jobs of the batch as ended (a set: marking one twice is harmless)."""
        if not job_ids:
            return
        ended = self.key(batch_id, "ended")
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.sadd(ended, *job_ids)
            pipe.expire(ended, self._ttl)
            pipe.execute()

    def ended(self, batch_id: str) -> set[str]:
        with redis_errors():
            return {str(j) for j in self._redis.smembers(self.key(batch_id, "ended"))}

    def try_finish(self, batch_id: str, now: float | None = None) -> bool:
        """True once, for the caller that finds every job ended: it sends the report."""
        now = time.time() if now is None else now
        keys = [self.key(batch_id), self.key(batch_id, "ended"), self.open_index]
        with redis_errors():
            return bool(self._finish(keys=keys, args=[repr(now), batch_id]))

    def unfinish(self, batch_id: str, now: float | None = None) -> None:
        """Undo ``try_finish`` whose report could not be queued: the reconciler tries again."""
        now = time.time() if now is None else now
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self.key(batch_id), "notified_at", "")
            pipe.zadd(self.open_index, {batch_id: now})
            pipe.execute()

    def open_before(self, now: float, limit: int = 200) -> list[str]:
        """Batches not yet reported that the reconciler may look at by ``now``."""
        with redis_errors():
            return [
                str(b) for b in self._redis.zrangebyscore(self.open_index, "-inf", now, 0, limit)
            ]

    def forget_open(self, batch_id: str) -> None:
        with redis_errors():
            self._redis.zrem(self.open_index, batch_id)

    def delete(self, batch: Batch) -> None:
        """Remove the batch's record, lists and index entries (not its jobs)."""
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            for part in ("", "jobs", "waiting", "heavy", "ended"):
                pipe.delete(self.key(batch.batch_id, part))
            pipe.zrem(self.open_index, batch.batch_id)
            pipe.zrem(self.feeding_index(batch.tenant_id), batch.batch_id)
            pipe.execute()


# -- the answer (pure) -------------------------------------------------------------------


def count_statuses(statuses: dict[str, str | None]) -> dict[str, int]:
    """How many of the batch's jobs are in each status (``deleted``: no record)."""
    counts = dict.fromkeys(COUNTED, 0)
    for status in statuses.values():
        counts[status if status in jobs.STATUSES else DELETED] += 1
    return counts


def batch_status(counts: dict[str, int]) -> str:
    """``pending`` until a job starts, ``processing`` until every job has ended, then
    ``completed`` (none failed), ``failed`` (none completed) or ``partial``."""
    if counts[jobs.PENDING] or counts[jobs.PROCESSING]:
        started = counts[jobs.PROCESSING] + counts[jobs.COMPLETED] + counts[jobs.FAILED]
        return jobs.PROCESSING if started else jobs.PENDING
    if not counts[jobs.FAILED]:
        return jobs.COMPLETED
    return PARTIAL if counts[jobs.COMPLETED] else jobs.FAILED


def batch_body(
    batch: Batch,
    statuses: dict[str, str | None],
    page: list[dict[str, Any]],
    next_cursor: str | None,
) -> dict[str, Any]:
    """``GET /api/batches/{id}`` and the batch's webhook: its state, counts and a page
    of its jobs (``[{job_id, status, …}]``)."""
    counts = count_statuses(statuses)
    return {
        "batch_id": batch.batch_id,
        "status": batch_status(counts),
        "total": batch.total,
        "counts": counts,
        "preset": batch.preset or None,
        "created_at": iso_time(batch.created_at),
        "status_url": f"/api/batches/{batch.batch_id}",
        "jobs": page,
        "next_cursor": next_cursor,
    }


def job_entry(job_id: str, status: str | None, error: dict[str, str] | None) -> dict[str, Any]:
    """One job of a batch's answer: its id, status (``deleted`` without a record), error."""
    return {
        "job_id": job_id,
        "status": status or DELETED,
        "error": error,
        "status_url": f"/api/status/{job_id}",
    }


def describe_batch(
    batches: BatchStore, store: JobStore, batch: Batch, start: int = 0, count: int | None = None
) -> dict[str, Any]:
    """The batch's answer with its jobs from ``start`` (``count`` of them, or all):
    counts from every job's status, the page's jobs with their errors."""
    job_ids = batches.job_ids(batch.batch_id)
    statuses = store.statuses(job_ids)
    end = len(job_ids) if count is None else min(len(job_ids), start + count)
    page = []
    for job_id in job_ids[start:end]:
        job = store.get(job_id) if statuses[job_id] == jobs.FAILED else None
        page.append(job_entry(job_id, statuses[job_id], job.error if job else None))
    next_cursor = str(end) if end < len(job_ids) else None
    return batch_body(batch, statuses, page, next_cursor)
