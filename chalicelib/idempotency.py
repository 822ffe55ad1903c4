"""Idempotency keys: a repeated request with the same key gives the same job."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from chalicelib.errors import IdempotencyConflict, InvalidRequest
from chalicelib.jobstore import RedisJobStore

MAX_KEY_LENGTH = 255


def fingerprint(*parts: Any) -> str:
    """A digest of what makes two requests the same request."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """Claims keys in Redis (``SET NX`` with a TTL) before a job is created."""

    def __init__(self, store: RedisJobStore, ttl_seconds: int, prefix: str = "idempotency:"):
        self._store = store
        self._ttl = ttl_seconds
        self._prefix = store.namespaced(prefix)

    def _key(self, scope: str, key: str) -> str:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidRequest(
                "The Idempotency-Key header must be 1 to 255 printable characters."
            )
        # Hashed so any client string makes a safe Redis key; scoped per API key.
        return self._prefix + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()

    def claim(self, scope: str, key: str, request_fingerprint: str, job_id: str) -> str | None:
        """Claim ``key`` for ``job_id``; returns None if claimed now, else the earlier job id.

        Raises ``IdempotencyConflict`` if the key was used for another request.
        """
        redis_key = self._key(scope, key)
        value = json.dumps({"fingerprint": request_fingerprint, "job_id": job_id})
        if self._store.call(lambda r: r.set(redis_key, value, nx=True, ex=self._ttl)):
            return None
        raw = self._store.call(lambda r: r.get(redis_key))
        if raw is None:  # expired between the two calls: claim again
            return self.claim(scope, key, request_fingerprint, job_id)
        earlier = json.loads(raw)
        if earlier["fingerprint"] != request_fingerprint:
            raise IdempotencyConflict()
        return str(earlier["job_id"])

    def release(self, scope: str, key: str) -> None:
        """Forget a claim whose job could not be created, so a retry can succeed."""
        redis_key = self._key(scope, key)
        self._store.call(lambda r: r.delete(redis_key))
