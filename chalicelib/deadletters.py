"""The dead-letter list: messages that can never succeed, kept for an operator to replay."""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.contract import DEAD_LETTER_KEY, PROCESS_TASK
from chalicelib.jobstore import RedisJobStore

MAX_BODY_CHARS = 4096


class DeadLetters:
    """A Redis list of JSON entries ``{reason, task, task_id, args, kwargs, body, at}``."""

    def __init__(self, store: RedisJobStore, key: str = DEAD_LETTER_KEY):
        self._store = store
        self._key = store.namespaced(key)

    def push(self, reason: str, **entry: Any) -> None:
        entry = {"reason": reason, "at": time.time(), **entry}
        if isinstance(entry.get("body"), bytes | str):
            body = entry["body"]
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            entry["body"] = text[:MAX_BODY_CHARS]
        raw = json.dumps(entry, default=repr)
        self._store.call(lambda r: r.rpush(self._key, raw))

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        raw = self._store.call(lambda r: r.lrange(self._key, 0, limit - 1))
        return [json.loads(str(item)) for item in raw]

    def count(self) -> int:
        return int(self._store.call(lambda r: r.llen(self._key)))

    def take(self) -> dict[str, Any] | None:
        """Remove and return the oldest entry."""
        raw = self._store.call(lambda r: r.lpop(self._key))
        return json.loads(str(raw)) if raw else None

    def put_back(self, entry: dict[str, Any]) -> None:
        self._store.call(lambda r: r.rpush(self._key, json.dumps(entry, default=repr)))

    def purge(self) -> int:
        count = self.count()
        self._store.call(lambda r: r.delete(self._key))
        return count


def replayable_job_id(entry: dict[str, Any]) -> str | None:
    """The job id to queue again for ``entry``, if it is a processing task for one."""
    if entry.get("task") != PROCESS_TASK:
        return None
    kwargs = entry.get("kwargs") or {}
    job_id = kwargs.get("job_id") if isinstance(kwargs, dict) else None
    return job_id if isinstance(job_id, str) else None
