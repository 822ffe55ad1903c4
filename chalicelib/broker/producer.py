"""The Celery producer: sends tasks by name over a reused broker connection.

``TaskQueue`` is what the job service needs of it (tests use a recording fake).

The API never imports worker code: it needs only the task's name and payload
(``chalicelib.jobs.contract``). Celery is imported on first use so that a cold
Lambda start that serves only status reads never pays for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from chalicelib.core.errors import ServiceUnavailable
from chalicelib.core.settings import Settings
from chalicelib.jobs.contract import (
    BATCH_WEBHOOK_TASK,
    PROCESS_TASK,
    WEBHOOK_TASK,
    task_payload,
    webhook_delivery_id,
)

log = logging.getLogger(__name__)

# The first import of celery, and the making of a Celery app, one thread at a time: the
# local server answers each request on a thread of its own, and celery's package swaps
# itself for a lazy module as it loads, so a second thread importing it meanwhile got
# "cannot import name 'Celery'" (a 503 for one of the first concurrent submits).
_MAKING = threading.Lock()


class TaskQueue(Protocol):
    """Queues the processing task of a job."""

    def enqueue(self, job_id: str, queue: str | None = None) -> None: ...

    def notify_batch(self, batch_id: str) -> None: ...

    def notify_job(self, job_id: str) -> None: ...


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
        # The lock a sweep holds: one left by a worker whose connection broke mid-sweep
        # (a Redis restart) stops every sweep until it expires; kombu's default is 5 min.
        "unacked_mutex_expire": 15,
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

    def _celery(self) -> Any:
        if self._app is None:
            with _MAKING:
                if self._app is None:
                    self._app = self._make_app()
        return self._app

    def _make_app(self) -> Any:
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
        # Its lazy parts made here too, under the lock: the configuration, the AMQP
        # layer and the producer pool (no connection is opened).
        app.amqp.producer_pool  # noqa: B018
        return app

    def enqueue(self, job_id: str, queue: str | None = None) -> None:
        """Queue the processing task for ``job_id`` (the task id is the job id) on
        ``queue``: the light one (``CELERY_QUEUE``) unless told the heavy one."""
        try:
            self._celery().send_task(
                PROCESS_TASK,
                kwargs=task_payload(job_id),
                task_id=job_id,
                queue=queue or self._settings.celery_queue,
            )
        except Exception as exc:  # kombu and redis raise many connection errors
            raise _unavailable(exc) from exc

    def notify_job(self, job_id: str) -> None:
        """Queue the webhook of an ended job on the webhooks' queue (its task id, and so
        its ``Webhook-Id``, is the job's own: ``webhook_delivery_id``)."""
        try:
            self._celery().send_task(
                WEBHOOK_TASK,
                kwargs={"job_id": job_id},
                task_id=webhook_delivery_id(job_id),
                queue=self._settings.webhooks_queue,
            )
        except Exception as exc:  # kombu and redis raise many connection errors
            raise _unavailable(exc) from exc

    def notify_batch(self, batch_id: str) -> None:
        """Queue the webhook of a batch whose jobs have all ended, on the webhooks' queue."""
        try:
            self._celery().send_task(
                BATCH_WEBHOOK_TASK,
                kwargs={"batch_id": batch_id},
                queue=self._settings.webhooks_queue,
            )
        except Exception as exc:  # kombu and redis raise many connection errors
            raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> ServiceUnavailable:
    """The 503 for a task that could not be sent; what went wrong goes to the log."""
    log.warning("could not queue a task: %s: %s", type(exc).__name__, exc)
    return ServiceUnavailable("The job queue is unavailable; try again shortly.")
