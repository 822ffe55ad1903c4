"""What waits in the broker: reads kombu's Redis layout (for metrics and the reconciler).

kombu's Redis transport keeps a queue as a list (pushed left, popped right) of
JSON envelopes, and the messages delivered but not yet acknowledged in the hash
``unacked`` as ``[envelope, exchange, routing_key]``. This module is the one
place that knows it; the producer (``chalicelib.broker.producer``) only sends.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Protocol

import redis

from chalicelib.core.errors import ServiceUnavailable

UNACKED_KEY = "unacked"


class QueueInspector(Protocol):
    """The reads the reconciler and the queue metrics need."""

    def queue_length(self) -> int: ...

    def oldest_task_id(self) -> str | None: ...

    def known_task_ids(self) -> set[str]: ...


def _task_id(envelope: Any) -> str:
    return str(envelope["headers"]["id"])


class KombuRedisInspector:
    """Reads one queue of a kombu Redis broker."""

    def __init__(self, client: redis.Redis, queue: str):
        self._redis = client
        self._queue = queue

    def queue_length(self) -> int:
        """How many tasks wait in the queue."""
        try:
            return int(self._redis.llen(self._queue))
        except redis.RedisError as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc

    def oldest_task_id(self) -> str | None:
        """The id of the task that has waited longest (pushed left, popped right)."""
        try:
            raw = self._redis.lindex(self._queue, -1)
        except redis.RedisError as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc
        try:
            return _task_id(json.loads(str(raw))) if raw else None
        except (ValueError, TypeError, KeyError):
            return None

    def known_task_ids(self) -> set[str]:
        """Ids of the tasks waiting in the queue or delivered but not yet acknowledged."""
        try:
            waiting = self._redis.lrange(self._queue, 0, -1)
            unacked = self._redis.hvals(UNACKED_KEY)
        except redis.RedisError as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc
        ids: set[str] = set()
        for raw in waiting:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                ids.add(_task_id(json.loads(raw)))
        for raw in unacked:
            with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
                ids.add(_task_id(json.loads(raw)[0]))
        return ids
