"""Per-tenant limits, checked and counted atomically in Redis: request rate, jobs in flight,
heavy jobs in flight, and work per hour.

Every check is one Lua script, so two API instances racing on the same tenant can
never both pass the last free slot. Over a limit, ``RateLimited`` carries how long
to wait (the ``Retry-After`` header).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import redis

from chalicelib.core.errors import InvalidRequest, RateLimited
from chalicelib.core.redis_client import redis_errors
from chalicelib.core.settings import Settings

# A token bucket: KEYS[1] a hash {tokens, at_ms}; ARGV rate per second, burst, now (ms).
# Returns {1, 0} when a token was taken, else {0, milliseconds until one is there}.
_TAKE_TOKEN = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at_ms')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at_ms', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, wait}
"""

# Admits a job: KEYS[1] jobs in flight (zset: job id -> admitted at), KEYS[2] heavy jobs
# in flight, KEYS[3] this hour's work (ms), KEYS[4] the previous hour's. ARGV: job id,
# now, stale before, the in-flight limit, the heavy limit, heavy (0/1), the job's work,
# the hourly work limit, the hour's key lifetime, the share of the previous hour still
# in the sliding hour. Returns 0 when admitted, else 1 (in flight), 2 (heavy in flight)
# or 3 (work in the last hour).
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
local heavy = ARGV[6] == '1'
if heavy and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
local work = tonumber(redis.call('GET', KEYS[3]) or '0')
local before = tonumber(redis.call('GET', KEYS[4]) or '0')
if work + before * tonumber(ARGV[10]) + tonumber(ARGV[7]) > tonumber(ARGV[8]) then
  return 3
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if heavy then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
redis.call('INCRBYFLOAT', KEYS[3], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[9])
return 0
"""

# Charges a batch's whole work to the hour at once: KEYS[1] this hour's work, KEYS[2]
# the previous hour's; ARGV the batch's work, the hourly limit, the key's lifetime, the
# share of the previous hour still in the sliding hour. Returns 1 when charged, else 0.
_CHARGE_WORK = """
local work = tonumber(redis.call('GET', KEYS[1]) or '0')
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
if work + before * tonumber(ARGV[4]) + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Moves jobs waiting in a batch into the tenant's jobs in flight while slots are free,
# in the batch's order: KEYS[1] the batch's waiting jobs (zset: id -> position), KEYS[2]
# its heavy ones (set), KEYS[3] the tenant's jobs in flight, KEYS[4] its heavy jobs in
# flight. ARGV: now, stale before, the slots a batch may fill, the heavy limit, the most
# to move. Taking a job off the waiting set and counting it in flight in one script: two
# feeders (a worker and the reconciler) never move one job twice nor pass the limit.
# Returns the ids moved; the caller queues them.
_ADMIT_WAITING = """
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[2])
local admitted = {}
while #admitted < tonumber(ARGV[5]) do
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then break end
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #head == 0 then break end
  local job = head[1]
  local heavy = redis.call('SISMEMBER', KEYS[2], job) == 1
  if heavy and redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[4]) then break end
  redis.call('ZREM', KEYS[1], job)
  redis.call('ZADD', KEYS[3], ARGV[1], job)
  if heavy then redis.call('ZADD', KEYS[4], ARGV[1], job) end
  admitted[#admitted + 1] = job
end
return admitted
"""

# A job that never reported its end (its worker died, its record expired) stops
# counting as in flight after this long: longer than any job may run.
STALE_AFTER_SECONDS = 3600
# What to wait before asking again while the in-flight limits are reached.
IN_FLIGHT_RETRY_AFTER = 5


def batch_slots(jobs_in_flight: int) -> int:
    """How many of a tenant's jobs in flight its batches may fill together: all but a
    fifth (at least one) kept for its single jobs, so an album being fed never stops
    the tenant's other submits; all of them under a limit of one."""
    if jobs_in_flight <= 1:
        return jobs_in_flight
    return jobs_in_flight - max(1, jobs_in_flight // 5)


@dataclass(frozen=True)
class TenantLimits:
    """What one tenant may do; the defaults come from the settings, a tenant may differ."""

    requests_per_second: float
    burst: int
    jobs_in_flight: int
    heavy_jobs_in_flight: int
    work_seconds_per_hour: int
    presets: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantLimits:
        """Every tenant's limits unless its record says otherwise."""
        return cls(
            requests_per_second=settings.tenant_requests_per_second,
            burst=settings.tenant_burst,
            jobs_in_flight=settings.tenant_jobs_in_flight,
            heavy_jobs_in_flight=settings.tenant_heavy_jobs_in_flight,
            work_seconds_per_hour=settings.tenant_work_seconds_per_hour,
            presets=settings.tenant_presets,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


# The range of each limit a tenant may be given: a value outside would break its requests
# (a rate or a burst of 0 admits no request at all, not even GET /api/limits). A job
# limit of 0 is allowed: it pauses the tenant's submits (429 naming the limit).
LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "requests_per_second": (0.01, 100_000),
    "burst": (1, 1_000_000),
    "jobs_in_flight": (0, 1_000_000),
    "heavy_jobs_in_flight": (0, 1_000_000),
    "work_seconds_per_hour": (0, 3600 * 10_000),
    "presets": (0, 10_000),
}


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def checked_limits(limits: dict[str, float]) -> dict[str, float]:
    """``limits`` when every name is a limit and every value in its range (whole where
    the limit counts things), else ``InvalidRequest`` with one line saying which and why."""
    names = TenantLimits.field_names()
    whole = {f.name for f in fields(TenantLimits) if f.type == "int"}
    checked: dict[str, float] = {}
    for name, value in limits.items():
        if name not in names:
            raise InvalidRequest(f"Unknown limit {name!r}; the limits are: {', '.join(names)}.")
        low, high = LIMIT_RANGES[name]
        if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
            finite = isinstance(value, int | float) and math.isfinite(value)
            shown = _number(value) if finite else value
            raise InvalidRequest(
                f"The limit {name} must be from {_number(low)} to {_number(high)}, not {shown}."
            )
        if name in whole:
            if value != int(value):
                raise InvalidRequest(
                    f"The limit {name} must be a whole number, not {_number(value)}."
                )
            value = int(value)
        checked[name] = value
    return checked


class TenantQuotas:
    """The Redis side of every tenant's limits, under ``<prefix>tenant:<id>:…`` keys."""

    def __init__(self, client: redis.Redis, prefix: str = ""):
        self._redis = client
        self._prefix = prefix
        self._take_token = client.register_script(_TAKE_TOKEN)
        self._admit = client.register_script(_ADMIT)
        self._charge_work = client.register_script(_CHARGE_WORK)
        self._admit_waiting = client.register_script(_ADMIT_WAITING)

    def _key(self, tenant_id: str, part: str) -> str:
        return f"{self._prefix}tenant:{tenant_id}:{part}"

    def _work_key(self, tenant_id: str, now: float) -> str:
        return self._key(tenant_id, f"work:{int(now // 3600)}")

    def take_request(self, tenant_id: str, limits: TenantLimits, now: float | None = None) -> None:
        """Count one request against the tenant's rate; ``RateLimited`` when over it."""
        now = time.time() if now is None else now
        with redis_errors():
            taken, wait_ms = self._take_token(
                keys=[self._key(tenant_id, "rate")],
                args=[limits.requests_per_second, limits.burst, int(now * 1000)],
            )
        if not taken:
            raise RateLimited(
                f"More than {limits.requests_per_second:g} requests a second "
                f"(bursts of {limits.burst}); slow down.",
                retry_after=max(1, math.ceil(int(wait_ms) / 1000)),
                limit="requests_per_second",
            )

    def admit_job(
        self,
        tenant_id: str,
        job_id: str,
        work_ms: float,
        heavy: bool,
        limits: TenantLimits,
        now: float | None = None,
    ) -> None:
        """Count a new job in flight and its work this hour; ``RateLimited`` when a
        limit is reached (nothing is counted then)."""
        now = time.time() if now is None else now
        keys = [
            self._key(tenant_id, "in-flight"),
            self._key(tenant_id, "heavy-in-flight"),
            self._work_key(tenant_id, now),
            self._work_key(tenant_id, now - 3600),
        ]
        args: list[str | int | float] = [
            job_id,
            now,
            now - STALE_AFTER_SECONDS,
            limits.jobs_in_flight,
            limits.heavy_jobs_in_flight,
            int(heavy),
            round(work_ms, 3),
            limits.work_seconds_per_hour * 1000,
            7200,
            1 - (now % 3600) / 3600,
        ]
        with redis_errors():
            refused = int(self._admit(keys=keys, args=args))
        if refused == 1:
            raise RateLimited(
                f"{limits.jobs_in_flight} jobs are already in flight; wait for one to end.",
                retry_after=IN_FLIGHT_RETRY_AFTER,
                limit="jobs_in_flight",
            )
        if refused == 2:
            raise RateLimited(
                f"{limits.heavy_jobs_in_flight} heavy jobs are already in flight; "
                "wait for one to end.",
                retry_after=IN_FLIGHT_RETRY_AFTER,
                limit="heavy_jobs_in_flight",
            )
        if refused == 3:
            raise RateLimited(
                f"This job's work would pass {limits.work_seconds_per_hour} s of work "
                "in the last hour.",
                retry_after=self._work_retry_after(tenant_id, work_ms, limits, now),
                limit="work_seconds_per_hour",
            )

    def admit_work(
        self, tenant_id: str, work_ms: float, limits: TenantLimits, now: float | None = None
    ) -> None:
        """Charge a batch's whole work to the sliding hour, or refuse it whole with
        ``RateLimited`` (nothing is charged then). Its jobs take their places in flight
        later, one by one (``admit_waiting``)."""
        now = time.time() if now is None else now
        keys = [self._work_key(tenant_id, now), self._work_key(tenant_id, now - 3600)]
        args = [
            round(work_ms, 3),
            limits.work_seconds_per_hour * 1000,
            7200,
            1 - (now % 3600) / 3600,
        ]
        with redis_errors():
            charged = int(self._charge_work(keys=keys, args=args))
        if not charged:
            raise RateLimited(
                f"This batch's work would pass {limits.work_seconds_per_hour} s of work "
                "in the last hour.",
                retry_after=self._work_retry_after(tenant_id, work_ms, limits, now),
                limit="work_seconds_per_hour",
            )

    def admit_waiting(
        self,
        tenant_id: str,
        waiting_key: str,
        heavy_key: str,
        limits: TenantLimits,
        most: int,
        now: float | None = None,
    ) -> list[str]:
        """Move up to ``most`` jobs waiting in a batch (``waiting_key``, its heavy ones in
        ``heavy_key``) into the tenant's jobs in flight, as far as ``batch_slots`` and the
        heavy limit allow; the ids moved, in the batch's order."""
        now = time.time() if now is None else now
        keys = [
            waiting_key,
            heavy_key,
            self._key(tenant_id, "in-flight"),
            self._key(tenant_id, "heavy-in-flight"),
        ]
        args = [
            now,
            now - STALE_AFTER_SECONDS,
            batch_slots(limits.jobs_in_flight),
            limits.heavy_jobs_in_flight,
            most,
        ]
        with redis_errors():
            moved = self._admit_waiting(keys=keys, args=args)
        return [str(job_id) for job_id in moved]

    def _work_retry_after(
        self, tenant_id: str, work_ms: float, limits: TenantLimits, now: float
    ) -> int:
        """Seconds until a job of ``work_ms`` fits the sliding hour: the work of the
        hour before counts less as the hour slides past it (a sliding window counter:
        this hour's work, plus the previous hour's times the share of it still in the
        last 3600 s), so a limit cannot be spent twice across an hour boundary."""
        with redis_errors():
            current, previous = (
                float(v or 0)
                for v in self._redis.mget(
                    self._work_key(tenant_id, now), self._work_key(tenant_id, now - 3600)
                )
            )
        limit = limits.work_seconds_per_hour * 1000
        left_this_hour = 3600 - now % 3600
        over = current + previous * left_this_hour / 3600 + work_ms - limit
        if previous > 0 and over * 3600 / previous <= left_this_hour:
            return max(1, math.ceil(over * 3600 / previous))
        # Only when this hour's work slides out in the next one.
        later = (current + work_ms - limit) * 3600 / current if current > 0 else 0
        return max(1, math.ceil(left_this_hour + max(0.0, later)))

    def release_job(self, tenant_id: str, job_id: str) -> None:
        """The job ended (or was deleted or never queued): it no longer counts in flight."""
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.zrem(self._key(tenant_id, "in-flight"), job_id)
            pipe.zrem(self._key(tenant_id, "heavy-in-flight"), job_id)
            pipe.execute()

    def refund_work(self, tenant_id: str, work_ms: float, admitted_at: float) -> None:
        """Give back the work of a job that was admitted but could not be queued."""
        with redis_errors():
            self._redis.incrbyfloat(self._work_key(tenant_id, admitted_at), -work_ms)

    def charge_work(self, tenant_id: str, work_ms: float, now: float | None = None) -> None:
        """Add work a job used past its price (stopped at its work limit) to this hour's."""
        now = time.time() if now is None else now
        key = self._work_key(tenant_id, now)
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.incrbyfloat(key, round(work_ms, 3))
            pipe.expire(key, 7200)
            pipe.execute()

    def usage(self, tenant_id: str, now: float | None = None) -> dict[str, float]:
        """What the tenant uses now: jobs and heavy jobs in flight, work this hour (s)."""
        now = time.time() if now is None else now
        stale = now - STALE_AFTER_SECONDS
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.zcount(self._key(tenant_id, "in-flight"), stale, "+inf")
            pipe.zcount(self._key(tenant_id, "heavy-in-flight"), stale, "+inf")
            pipe.get(self._work_key(tenant_id, now))
            in_flight, heavy, work = pipe.execute()
        return {
            "jobs_in_flight": int(in_flight),
            "heavy_jobs_in_flight": int(heavy),
            "work_seconds_this_hour": round(float(work or 0) / 1000, 1),
        }
