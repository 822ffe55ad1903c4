"""What the workers say about themselves: their imaging engine, for ``/api/health``.

A worker records its facts at start (``worker_ready``) and again at most every
``REFRESH_SECONDS`` after a task, in one Redis hash keyed by its Celery hostname.
The API reads the hash and names each engine seen within ``MAX_AGE_SECONDS``, so
which engine (Pillow or Pillow-SIMD, its version and SIMD level) made the outputs
is never a guess. Entries older than that are dropped when read: a worker that has
stopped leaves nothing behind for long.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

from chalicelib.core.redis_client import redis_errors

WORKER_FACTS_KEY = "workers:facts"
# A worker refreshes its entry after a task at most this often.
REFRESH_SECONDS = 600
# An entry not refreshed for this long is a worker that has gone (or idles for a day).
MAX_AGE_SECONDS = 24 * 3600


class WorkerFacts:
    """A Redis hash: worker hostname -> JSON ``{engine, version, simd, at}``."""

    def __init__(
        self,
        client: redis.Redis,
        key: str = WORKER_FACTS_KEY,
        clock: Callable[[], float] = time.time,
    ):
        self._redis = client
        self._key = key
        self._clock = clock

    def record(self, hostname: str, facts: dict[str, str]) -> None:
        raw = json.dumps({**facts, "at": round(self._clock(), 3)}, sort_keys=True)
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(self._key, hostname, raw)
            pipe.expire(self._key, MAX_AGE_SECONDS)
            pipe.execute()

    def engines(self) -> list[str]:
        """Each imaging engine seen recently, as ``name version (simd)``, sorted."""
        with redis_errors():
            entries: dict[str, str] = self._redis.hgetall(self._key)  # type: ignore[assignment]
        now, seen, stale = self._clock(), set(), []
        for hostname, raw in entries.items():
            try:
                facts = json.loads(raw)
                at = float(facts["at"])
                name = f"{facts['engine']} {facts['version']}"
            except (ValueError, KeyError, TypeError):
                stale.append(hostname)
                continue
            if now - at > MAX_AGE_SECONDS:
                stale.append(hostname)
                continue
            simd = facts.get("simd")
            seen.add(f"{name} ({simd})" if simd else name)
        if stale:
            with redis_errors():
                self._redis.hdel(self._key, *stale)
        return sorted(seen)
