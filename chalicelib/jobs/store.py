"""Job records in Redis: one hash per job with a TTL, atomic status transitions.

``JobStore`` is the interface the service and the workers use; ``RedisJobStore``
is the real one (tests also use an in-memory fake of the same interface).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, Protocol

import redis

from chalicelib.core.errors import InvalidRequest
from chalicelib.core.redis_client import redis_errors
from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job

# How long a webhook's delivery may take before the reconciler takes it for lost: its
# first attempt waits in the webhooks queue meanwhile, a retry its backoff before that.
WEBHOOK_GRACE_SECONDS = 600

# Moves a job to ARGV[1] only if its current status is one of ARGV[2]
# (comma-separated), then sets the field/value pairs from ARGV[6] on. Checking
# and writing in one script makes the transition atomic: two workers racing on
# a redelivered task cannot both complete it, and a completed job never goes
# back. A job reaching a final status (ARGV[4] == '1') leaves the index of
# active jobs (KEYS[2]) under its id ARGV[3], and, if it has a callback and no
# batch, enters the webhook outbox (KEYS[3]) due at ARGV[5].
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = false
for source in string.gmatch(ARGV[2], '[^,]+') do
  if source == current then allowed = true end
end
if not allowed then return {0, current} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 6))
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[3])
  -- The webhook's place in the outbox, in the same step as the final status: a crash or
  -- a lost broker message after this cannot lose it (a batch's job sends none).
  local callback = redis.call('HGET', KEYS[1], 'callback_url')
  local batch = redis.call('HGET', KEYS[1], 'batch_id')
  if callback and callback ~= '' and (not batch or batch == '') then
    redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
  end
end
return {1, current}
"""

# Creates a record only if none has the id (an upload id is claimed once), and
# adds the id to the index of active jobs (KEYS[2], scored by creation time)
# that the reconciler walks, and to its tenant's index (KEYS[3], the same score),
# which lives as long as its newest job and drops the ids of expired ones.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[1])))
redis.call('EXPIRE', KEYS[3], ARGV[1])
return 1
"""

# Updates fields of a job only while it is in the status ARGV[1].
# Adds ARGV[1] to the attempts of an existing record KEYS[1]; a record deleted meanwhile
# is not recreated (HINCRBY would make one of a single field and no TTL). Returns the
# count, or -1 for no record.
_COUNT_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[1])
"""

_UPDATE_IF = """
local current = redis.call('HGET', KEYS[1], 'status')
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


# Takes or renews the lease KEYS[1] for the owner ARGV[1] for ARGV[2] ms: free,
# already the owner's, or held by ARGV[3] (a holder known to be dead), it is (re)set
# and 1 returned; held by another owner, 0.
_TAKE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# Gives the lease KEYS[1] back only if ARGV[1] still holds it.
_DROP_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class JobStore(Protocol):
    """Job records: created once, read, moved through the allowed statuses, deleted."""

    def create(self, job: Job) -> bool: ...

    def get(self, job_id: str) -> Job | None: ...

    def list_for(
        self, tenant_id: str, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> tuple[list[Job], str | None]: ...

    def transition(self, job_id: str, target: str, **fields: Any) -> tuple[bool, str | None]: ...

    def update_while(self, job_id: str, status: str, **fields: Any) -> bool: ...

    def count_attempt(self, job_id: str, by: int = 1) -> int: ...

    def webhook_due_at(self, job_id: str, due: float) -> None: ...

    def webhook_done(self, job_id: str) -> None: ...

    def webhooks_due(self, now: float, limit: int = 1000) -> list[str]: ...

    def take_lease(self, job_id: str, owner: str, seconds: float, replacing: str = "") -> bool: ...

    def drop_lease(self, job_id: str, owner: str) -> None: ...

    def lease_holder(self, job_id: str) -> str | None: ...

    def delete(self, job_id: str) -> bool: ...

    def active_before(self, created_before: float, limit: int = 1000) -> list[str]: ...

    def statuses(self, job_ids: list[str]) -> dict[str, str | None]: ...

    def forget_active(self, job_id: str) -> None: ...

    def ping(self) -> None: ...


class RedisJobStore:
    """Stores jobs as Redis hashes under ``<namespace>job:<job_id>``, each with a TTL.

    ``namespace`` (``REDIS_KEY_PREFIX``, empty by default) goes before every key of
    the service: records, the active index, idempotency keys, dead letters
    (``namespaced``), so that two stacks can share one Redis without seeing each
    other's jobs.
    """

    #: Sorted set of the ids of jobs not yet final, scored by creation time.
    ACTIVE_INDEX = "jobs:active"
    #: Sorted set of the ids of ended jobs whose webhook is not yet delivered or given
    #: up, scored by when a delivery should have happened (the reconciler's outbox).
    WEBHOOK_OUTBOX = "webhooks:due"

    #: Per tenant, sorted set of the ids of its jobs, scored by creation time.
    TENANT_INDEX = "jobs:tenant:"
    #: The most index entries one listing reads (a status filter may skip many).
    LIST_SCAN_LIMIT = 1000
    #: What a listing reads of each record (not the text, options or result).
    SUMMARY_FIELDS = (
        "job_id",
        "status",
        "created_at",
        "updated_at",
        "progress",
        "message",
        "tenant_id",
    )

    def __init__(
        self, client: redis.Redis, ttl_seconds: int, prefix: str = "job:", namespace: str = ""
    ):
        self._redis = client
        self._ttl = ttl_seconds
        self.namespace = namespace
        self._prefix = namespace + prefix
        self.active_index = namespace + self.ACTIVE_INDEX
        self.webhook_outbox = namespace + self.WEBHOOK_OUTBOX
        self._transition = client.register_script(_TRANSITION)
        self._update_if = client.register_script(_UPDATE_IF)
        self._count_attempt = client.register_script(_COUNT_ATTEMPT)
        self._create = client.register_script(_CREATE)
        self._take_lease = client.register_script(_TAKE_LEASE)
        self._drop_lease = client.register_script(_DROP_LEASE)

    def key(self, job_id: str) -> str:
        return f"{self._prefix}{job_id}"

    def namespaced(self, key: str) -> str:
        """``key`` in this store's namespace (for the other keys kept beside the jobs)."""
        return self.namespace + key

    def tenant_index(self, tenant_id: str) -> str:
        return f"{self.namespace}{self.TENANT_INDEX}{tenant_id}"

    def create(self, job: Job) -> bool:
        """Write a new record and its TTL atomically; False if the id is already taken."""
        args: list[str] = [str(self._ttl), job.job_id, repr(job.created_at)]
        for name, value in job.to_record().items():
            args += [name, value]
        keys = [self.key(job.job_id), self.active_index, self.tenant_index(job.tenant_id)]
        with redis_errors():
            return bool(self._create(keys=keys, args=args))

    def list_for(
        self, tenant_id: str, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> tuple[list[Job], str | None]:
        """The tenant's jobs, newest first, from ``cursor`` on (``parse_cursor``), at most
        ``limit``, only those in ``status`` if given; and the cursor of the next page, or
        None after the last. Reads at most ``LIST_SCAN_LIMIT`` entries of the index: a
        page under a rare status may hold fewer jobs than ``limit`` and still go on."""
        index = self.tenant_index(tenant_id)
        found: list[Job] = []
        stale: list[str] = []
        next_cursor: str | None = None
        for score, job_id, record in self._index_from(index, cursor):
            if record.get("tenant_id") != tenant_id:  # expired or deleted
                stale.append(job_id)
                continue
            job = Job.from_record(record)
            if status is None or job.status == status:
                found.append(job)
            next_cursor = make_cursor(score, job_id)
            if len(found) == limit or len(stale) + len(found) >= self.LIST_SCAN_LIMIT:
                break
        else:
            next_cursor = None
        if stale:  # the index forgets jobs whose records are gone
            with redis_errors():
                self._redis.zrem(index, *stale)
        return found, next_cursor

    def _index_from(
        self, index: str, cursor: str | None
    ) -> Iterator[tuple[float, str, dict[str, str]]]:
        """The index's entries after ``cursor``, newest first, with their summary fields."""
        top, after = parse_cursor(cursor) if cursor is not None else (float("inf"), None)
        highest = repr(top) if cursor is not None else "+inf"
        offset, batch = 0, 100
        while True:
            with redis_errors():
                entries: list[tuple[Any, Any]] = self._redis.zrevrangebyscore(  # type: ignore[assignment]
                    index, highest, "-inf", start=offset, num=batch, withscores=True
                )
            offset += len(entries)
            page = [
                (float(score), str(member))
                for member, score in entries
                # Equal scores come in descending id order: skip up to the cursor's id.
                if not (after is not None and float(score) == top and str(member) >= after)
            ]
            with redis_errors():
                pipe = self._redis.pipeline(transaction=False)
                for _, job_id in page:
                    pipe.hmget(self.key(job_id), self.SUMMARY_FIELDS)
                rows = pipe.execute() if page else []
            for (score, job_id), row in zip(page, rows, strict=True):
                fields = zip(self.SUMMARY_FIELDS, row, strict=True)
                yield score, job_id, {k: str(v) for k, v in fields if v is not None}
            if len(entries) < batch:
                return

    def get(self, job_id: str) -> Job | None:
        with redis_errors():
            record = self._redis.hgetall(self.key(job_id))
        if not record:
            return None
        try:
            return Job.from_record(record)  # type: ignore[arg-type]
        except (KeyError, ValueError, TypeError):
            # A record that cannot be read (a partial one, left by a write racing a
            # delete) is no job: a 404, never a 500.
            return None

    def transition(self, job_id: str, target: str, **fields: Any) -> tuple[bool, str | None]:
        """Move the job to ``target`` if allowed; returns (applied, status before).

        ``fields`` are stored with it; ``updated_at`` is set here. The status
        before is None when the job does not exist.
        """
        if target not in jobs.STATUSES:
            raise ValueError(f"unknown status {target!r}")
        now = time.time()
        fields["updated_at"] = repr(now)
        final = "1" if target in jobs.TERMINAL else "0"
        due = repr(now + WEBHOOK_GRACE_SECONDS)
        args = [target, ",".join(jobs.sources_of(target)), job_id, final, due]
        for name, value in fields.items():
            args += [name, field_value(value)]
        with redis_errors():
            applied, before = self._transition(
                keys=[self.key(job_id), self.active_index, self.webhook_outbox], args=args
            )
        return bool(applied), (before or None)

    def webhook_due_at(self, job_id: str, due: float) -> None:
        """A delivery of the job's webhook is under way until ``due`` (a retry's backoff
        plus the grace); the reconciler leaves it alone until then."""
        with redis_errors():
            self._redis.zadd(self.webhook_outbox, {job_id: due}, xx=True)

    def webhook_done(self, job_id: str) -> None:
        """The job's webhook was delivered, refused or given up: out of the outbox."""
        with redis_errors():
            self._redis.zrem(self.webhook_outbox, job_id)

    def webhooks_due(self, now: float, limit: int = 1000) -> list[str]:
        """Ids of jobs whose webhook should have been delivered by ``now``."""
        with redis_errors():
            found = self._redis.zrangebyscore(self.webhook_outbox, "-inf", now, 0, limit)
        return [str(job_id) for job_id in found]

    def update_while(self, job_id: str, status: str, **fields: Any) -> bool:
        """Set ``fields`` only while the job is in ``status`` (progress updates)."""
        fields["updated_at"] = repr(time.time())
        args: list[str] = [status]
        for name, value in fields.items():
            args += [name, field_value(value)]
        with redis_errors():
            return bool(self._update_if(keys=[self.key(job_id)], args=args))

    def count_attempt(self, job_id: str, by: int = 1) -> int:
        """Add ``by`` to the job's attempt counter and return it; -1 when the record is
        gone (deleted while its task ran): it is not recreated."""
        with redis_errors():
            return int(self._count_attempt(keys=[self.key(job_id)], args=[by]))

    def lease_key(self, job_id: str) -> str:
        return f"{self.namespace}lease:{job_id}"

    def take_lease(self, job_id: str, owner: str, seconds: float, replacing: str = "") -> bool:
        """Take, or as its owner renew, the lease on a job's processing for ``seconds``;
        False while another owner holds it, unless that is ``replacing`` (a holder known
        to be dead). The lease is what tells the reconciler a processing job is alive:
        a delivered message may be a stale one."""
        with redis_errors():
            taken = self._take_lease(
                keys=[self.lease_key(job_id)], args=[owner, int(seconds * 1000), replacing]
            )
        return bool(taken)

    def drop_lease(self, job_id: str, owner: str) -> None:
        """Give the lease back, if ``owner`` still holds it."""
        with redis_errors():
            self._drop_lease(keys=[self.lease_key(job_id)], args=[owner])

    def lease_holder(self, job_id: str) -> str | None:
        """Who holds the job's lease, or None once it lapsed."""
        with redis_errors():
            holder = self._redis.get(self.lease_key(job_id))
        return None if holder is None else str(holder)

    def delete(self, job_id: str) -> bool:
        with redis_errors():
            tenant_id = self._redis.hget(self.key(job_id), "tenant_id")
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self.key(job_id))
            pipe.zrem(self.active_index, job_id)
            pipe.zrem(self.webhook_outbox, job_id)
            if tenant_id is not None:
                pipe.zrem(self.tenant_index(str(tenant_id)), job_id)
            deleted = pipe.execute()[0]
        return bool(deleted)

    def active_before(self, created_before: float, limit: int = 1000) -> list[str]:
        """Ids of jobs not yet final that were created before ``created_before``."""
        with redis_errors():
            ids = self._redis.zrangebyscore(self.active_index, "-inf", created_before, 0, limit)
        return [str(job_id) for job_id in ids]

    def statuses(self, job_ids: list[str]) -> dict[str, str | None]:
        """Each job's status, None for a job whose record is gone (one round trip)."""
        if not job_ids:
            return {}
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hget(self.key(job_id), "status")
            found = pipe.execute()
        return {
            job_id: (str(status) if status else None)
            for job_id, status in zip(job_ids, found, strict=True)
        }

    def forget_active(self, job_id: str) -> None:
        """Drop an id from the active index (its record expired or was removed)."""
        with redis_errors():
            self._redis.zrem(self.active_index, job_id)

    def ping(self) -> None:
        with redis_errors():
            self._redis.ping()


# A listing's cursor: the creation time of the last job given, then its id.
CURSOR_PATTERN = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,17})?)_([0-9a-f]{32})")


def make_cursor(created_at: float, job_id: str) -> str:
    """Where a listing goes on: after this job (by creation time, then id)."""
    return f"{created_at!r}_{job_id}"


def parse_cursor(cursor: str) -> tuple[float, str]:
    """``make_cursor``'s parts; ``InvalidRequest`` for anything else."""
    found = CURSOR_PATTERN.fullmatch(cursor)
    if found is None:
        raise InvalidRequest("The cursor is not one a listing gave.", field="cursor")
    return float(found.group(1)), found.group(2)


def field_value(value: Any) -> str:
    """A field's value as the string Redis keeps (None as empty, floats exactly)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
