"""What waits in the broker: reads kombu's Redis layout (for metrics and the reconciler).

kombu's Redis transport keeps a queue as a list (pushed left, popped right) of
JSON envelopes, the messages delivered but not yet acknowledged in the hash
``unacked`` as ``[envelope, exchange, routing_key]`` under a delivery tag, and when
each was delivered in the sorted set ``unacked_index``. This module is the one
place that knows it; the producer (``chalicelib.broker.producer``) only sends.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from chalicelib.core.errors import ServiceUnavailable

UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"


@dataclass
class KnownTasks:
    """Task ids the broker holds: waiting in a queue, or delivered and not yet acknowledged."""

    waiting: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)


class QueueInspector(Protocol):
    """The reads the reconciler and the queue metrics need."""

    def queue_length(self) -> int: ...

    def oldest_task_id(self) -> str | None: ...

    def known_tasks(self, delivered_after: float = 0.0) -> KnownTasks: ...


def _task_id(envelope: Any) -> str:
    return str(envelope["headers"]["id"])


class KombuRedisInspector:
    """Reads a kombu Redis broker: ``queue`` for the metrics, and for the tasks it knows
    of, ``queue`` and the ``others`` (the heavy queue)."""

    def __init__(self, client: redis.Redis, queue: str, others: tuple[str, ...] = ()):
        self._redis = client
        self._queue = queue
        self._queues = (queue, *others)

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

    def known_tasks(self, delivered_after: float = 0.0) -> KnownTasks:
        """The tasks waiting in the queues, and those delivered at or after
        ``delivered_after`` (a timestamp) and not yet acknowledged.

        A delivered task older than the visibility timeout is not evidence of a live
        task: its worker may have lost it with its connection, and kombu puts it back
        only when a worker's sweep gets to it.
        """
        try:
            pipe = self._redis.pipeline(transaction=False)
            for queue in self._queues:
                pipe.lrange(queue, 0, -1)
            pipe.zrange(UNACKED_INDEX_KEY, delivered_after, "+inf", byscore=True)
            *waiting_lists, recent = pipe.execute()
            unacked = self._redis.hmget(UNACKED_KEY, recent) if recent else []
        except redis.RedisError as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc
        known = KnownTasks()
        for raw in (raw for waiting in waiting_lists for raw in waiting):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                known.waiting.add(_task_id(json.loads(raw)))
        for raw in unacked:
            if raw is None:  # acknowledged since the index was read
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
                known.delivered.add(_task_id(json.loads(raw)[0]))
        return known
