"""Idempotency keys: a repeated request with the same key gives the same job."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

import redis

from chalicelib.core.errors import IdempotencyConflict, InvalidRequest
from chalicelib.core.redis_client import redis_errors

MAX_KEY_LENGTH = 255
KEY_PATTERN = re.compile(f"[ -~]{{1,{MAX_KEY_LENGTH}}}")


def fingerprint(*parts: Any) -> str:
    """A digest of what makes two requests the same request."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """Claims keys in Redis (``SET NX`` with a TTL) before a job is created."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = "idempotency:"):
        self._redis = client
        self._ttl = ttl_seconds
        self._prefix = prefix

    def _key(self, scope: str, key: str) -> str:
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidRequest(
                "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
            )
        # Hashed so any client string makes a safe Redis key; scoped per tenant.
        return self._prefix + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()

    def redis_key(self, scope: str, key: str) -> str:
        """Where ``key`` of ``scope`` (a tenant) is kept; a job records it to forget it."""
        return self._key(scope, key)

    def claim(self, scope: str, key: str, request_fingerprint: str, job_id: str) -> str | None:
        """Claim ``key`` for ``job_id``; returns None if claimed now, else the earlier job id.

        Raises ``IdempotencyConflict`` if the key was used for another request.
        """
        return self.claim_with_age(scope, key, request_fingerprint, job_id)[0]

    def claim_with_age(
        self, scope: str, key: str, request_fingerprint: str, job_id: str
    ) -> tuple[str | None, float]:
        """``claim``, and how many seconds ago the earlier claim was made (0 for a new
        one, or a claim from before claims kept their time)."""
        redis_key = self._key(scope, key)
        value = json.dumps(
            {"fingerprint": request_fingerprint, "job_id": job_id, "at": time.time()}
        )
        with redis_errors():
            if self._redis.set(redis_key, value, nx=True, ex=self._ttl):
                return None, 0.0
            raw = self._redis.get(redis_key)
        if raw is None:  # expired between the two calls: claim again
            return self.claim_with_age(scope, key, request_fingerprint, job_id)
        earlier = json.loads(str(raw))
        if earlier["fingerprint"] != request_fingerprint:
            raise IdempotencyConflict()
        age = time.time() - float(earlier["at"]) if "at" in earlier else 0.0
        return str(earlier["job_id"]), age

    def release(self, scope: str, key: str) -> None:
        """Forget a claim whose job could not be created, so a retry can succeed."""
        self.forget(self._key(scope, key))

    def forget(self, redis_key: str) -> None:
        """Forget a claim by its Redis key (its job was deleted)."""
        with redis_errors():
            self._redis.delete(redis_key)
