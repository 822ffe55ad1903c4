"""The Celery producer: sends tasks by name over a reused broker connection.

The API never imports worker code: it needs only the task's name and payload
(``chalicelib.contract``). Celery is imported on first use so that a cold
Lambda start that serves only status reads never pays for it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib.contract import PROCESS_TASK, task_payload
from chalicelib.errors import ServiceUnavailable
from chalicelib.settings import Settings

# kombu's Redis transport keeps delivered, unacknowledged messages in this hash.
UNACKED_KEY = "unacked"


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """Redis transport options shared by the producer and the workers."""
    return {
        # A task unacknowledged this long is handed out again; it must exceed
        # the hard time limit, or a slow task would run twice at once.
        "visibility_timeout": settings.visibility_timeout,
        # Sweep for unacked messages of dead workers every 5 s, on every sweep
        # (throttle 1), so a killed worker's task returns within the
        # visibility timeout plus a few seconds.
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_socket_timeout,
        "retry_on_timeout": True,
        "health_check_interval": 25,
    }


class CeleryTaskQueue:
    """Publishes job tasks to the ``images`` queue of the Celery broker."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._app: Any = None
        self._redis: Any = None

    def _celery(self) -> Any:
        if self._app is None:
            from celery import Celery

            app = Celery("media-jobs-producer", set_as_current=False)
            app.conf.update(
                broker_url=self._settings.broker_url,
                broker_transport_options=broker_transport_options(self._settings),
                broker_connection_timeout=self._settings.redis_socket_timeout,
                broker_connection_retry_on_startup=False,
                task_serializer="json",
                accept_content=["json"],
                task_default_queue=self._settings.celery_queue,
                # Fail fast: the API answers 503 instead of holding the request.
                task_publish_retry=True,
                task_publish_retry_policy={
                    "max_retries": 2,
                    "interval_start": 0.1,
                    "interval_step": 0.2,
                    "interval_max": 0.5,
                },
            )
            self._app = app
        return self._app

    def enqueue(self, job_id: str) -> None:
        """Queue the processing task for ``job_id`` (the task id is the job id)."""
        try:
            self._celery().send_task(
                PROCESS_TASK,
                kwargs=task_payload(job_id),
                task_id=job_id,
                queue=self._settings.celery_queue,
            )
        except Exception as exc:  # kombu and redis raise many connection errors
            raise ServiceUnavailable("The job queue is unavailable; try again shortly.") from exc

    def _broker_redis(self) -> Any:
        if self._redis is None:
            from chalicelib.jobstore import make_redis_client

            self._redis = make_redis_client(self._settings, self._settings.broker_url)
        return self._redis

    def queue_length(self) -> int:
        """How many tasks wait in the queue (kombu keeps it as a Redis list)."""
        try:
            return int(self._broker_redis().llen(self._settings.celery_queue))
        except Exception as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc

    def oldest_task_id(self) -> str | None:
        """The id of the task that has waited longest (kombu pushes left, pops right)."""
        try:
            raw = self._broker_redis().lindex(self._settings.celery_queue, -1)
        except Exception as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc
        try:
            return str(json.loads(raw)["headers"]["id"]) if raw else None
        except (ValueError, TypeError, KeyError):
            return None

    def known_task_ids(self) -> set[str]:
        """Ids of the tasks waiting in the queue or delivered but not yet acknowledged."""
        try:
            client = self._broker_redis()
            waiting = client.lrange(self._settings.celery_queue, 0, -1)
            unacked = client.hvals(UNACKED_KEY)
        except Exception as exc:
            raise ServiceUnavailable("The job queue is unavailable.") from exc
        ids: set[str] = set()
        for raw in waiting:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                ids.add(str(json.loads(raw)["headers"]["id"]))
        for raw in unacked:
            # kombu stores [message, exchange, routing_key] per unacked delivery.
            with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
                ids.add(str(json.loads(raw)[0]["headers"]["id"]))
        return ids
