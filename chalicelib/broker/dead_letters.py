"""The dead-letter list: messages that can never succeed, kept for an operator to replay."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from chalicelib.core.redis_client import redis_errors
from chalicelib.jobs.contract import DEAD_LETTER_KEY, PROCESS_TASK

MAX_BODY_CHARS = 4096
# The list keeps the newest entries only, and goes when nothing was added for this
# long: a flood of bad messages cannot fill Redis, and an old list does not linger.
MAX_ENTRIES = 1000
RETENTION_SECONDS = 14 * 24 * 3600


class DeadLetters:
    """A Redis list of JSON entries ``{reason, task, task_id, args, kwargs, body, at}``,
    capped at ``MAX_ENTRIES`` and expiring ``RETENTION_SECONDS`` after the last one."""

    def __init__(self, client: redis.Redis, key: str = DEAD_LETTER_KEY):
        self._redis = client
        self._key = key

    def push(self, reason: str, **entry: Any) -> None:
        entry = {"reason": reason, "at": time.time(), **entry}
        if isinstance(entry.get("body"), bytes | str):
            body = entry["body"]
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            entry["body"] = text[:MAX_BODY_CHARS]
        raw = json.dumps(entry, default=repr)
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(self._key, raw)
            pipe.ltrim(self._key, -MAX_ENTRIES, -1)
            pipe.expire(self._key, RETENTION_SECONDS)
            pipe.execute()

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        with redis_errors():
            raw = self._redis.lrange(self._key, 0, limit - 1)
        return [json.loads(str(item)) for item in raw]

    def count(self) -> int:
        with redis_errors():
            return int(self._redis.llen(self._key))

    def take(self) -> dict[str, Any] | None:
        """Remove and return the oldest entry."""
        with redis_errors():
            raw = self._redis.lpop(self._key)
        return json.loads(str(raw)) if raw else None

    def put_back(self, entry: dict[str, Any]) -> None:
        with redis_errors():
            self._redis.rpush(self._key, json.dumps(entry, default=repr))

    def purge(self) -> int:
        with redis_errors():
            pipe = self._redis.pipeline()
            pipe.llen(self._key)
            pipe.delete(self._key)
            count, _ = pipe.execute()
        return int(count)


def replayable_job_id(entry: dict[str, Any]) -> str | None:
    """The job id to queue again for ``entry``, if it is a processing task for one."""
    if entry.get("task") != PROCESS_TASK:
        return None
    kwargs = entry.get("kwargs") or {}
    job_id = kwargs.get("job_id") if isinstance(kwargs, dict) else None
    return job_id if isinstance(job_id, str) else None
