"""Who may send a webhook now: a cap per tenant and per callback host, a breaker per host.

Deliveries share one pool of threads (``WEBHOOK_CONCURRENCY``). Without these rules
one tenant's receiver that accepts and never answers held every thread for the whole
attempt timeout, and another tenant's webhook waited behind twenty such calls (0.08 s
became 16.4 s). Now a tenant holds at most ``TENANT_IN_FLIGHT`` attempts at once, a
callback host at most ``HOST_IN_FLIGHT``, a delivery over either is put back for a
second rather than holding a thread, the first attempt is cut at
``FIRST_ATTEMPT_SECONDS``, and a host whose attempts keep timing out is not called at
all for ``BREAKER_OPEN_SECONDS`` (its deliveries count a failed attempt and back off).
The counts live in Redis (sorted sets of attempts scored by when they lapse), so every
webhook worker shares them, and an attempt whose thread died lapses by itself.
"""

from __future__ import annotations

import time

import redis

from chalicelib.core.redis_client import redis_errors

TENANT_IN_FLIGHT = 2
HOST_IN_FLIGHT = 4
FIRST_ATTEMPT_SECONDS = 3.0
# A delivery over a cap waits this long and asks again (not counted as an attempt).
DEFER_SECONDS = 1
# This many timeouts of one host within the window open its circuit for a while.
BREAKER_TIMEOUTS = 3
BREAKER_WINDOW_SECONDS = 60
BREAKER_OPEN_SECONDS = 30

# KEYS: the tenant's and the host's attempts. ARGV: token, now, lapses at, tenant cap,
# host cap. Returns 0 (admitted), 1 (the tenant is at its cap) or 2 (the host is).
_ENTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 600000)
redis.call('PEXPIRE', KEYS[2], 600000)
return 0
"""


class DeliveryGate:
    """The shared counts of webhook attempts in flight, and each host's breaker."""

    def __init__(self, client: redis.Redis, prefix: str = "") -> None:
        self._redis = client
        self._prefix = prefix + "webhooks:"
        self._enter = client.register_script(_ENTER)

    def _tenant_key(self, tenant_id: str) -> str:
        return f"{self._prefix}tenant:{tenant_id}"

    def _host_key(self, host: str) -> str:
        return f"{self._prefix}host:{host}"

    def enter(
        self, tenant_id: str, host: str, token: str, seconds: float, now: float | None = None
    ) -> str | None:
        """Count an attempt of ``seconds`` at most; None if admitted, else the full cap's
        name (``tenant`` or ``host``), or ``circuit-open`` while the host's breaker is."""
        now = time.time() if now is None else now
        with redis_errors():
            if self._redis.exists(f"{self._host_key(host)}:open"):
                return "circuit-open"
            refused = int(
                self._enter(
                    keys=[self._tenant_key(tenant_id), self._host_key(host)],
                    args=[token, now, now + seconds + 5, TENANT_IN_FLIGHT, HOST_IN_FLIGHT],
                )
            )
        return {0: None, 1: "tenant", 2: "host"}[refused]

    def leave(self, tenant_id: str, host: str, token: str) -> None:
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.zrem(self._tenant_key(tenant_id), token)
            pipe.zrem(self._host_key(host), token)
            pipe.execute()

    def timed_out(self, host: str) -> None:
        """Count a timeout of ``host``; enough of them open its circuit."""
        key = f"{self._host_key(host)}:timeouts"
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, BREAKER_WINDOW_SECONDS)
            count, _ = pipe.execute()
            if int(count) >= BREAKER_TIMEOUTS:
                self._redis.set(f"{self._host_key(host)}:open", "1", ex=BREAKER_OPEN_SECONDS)
                self._redis.delete(key)

    def answered(self, host: str) -> None:
        """The host answered: its run of timeouts is over."""
        with redis_errors():
            self._redis.delete(f"{self._host_key(host)}:timeouts")


def attempt_seconds(attempt: int, timeout: float) -> float:
    """An attempt's time: the first is short (most receivers answer in milliseconds),
    the retries get the whole ``WEBHOOK_TIMEOUT``."""
    return min(timeout, FIRST_ATTEMPT_SECONDS) if attempt == 0 else timeout
