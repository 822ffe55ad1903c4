"""The workers' Celery app and its reliability settings."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from chalicelib.broker.producer import broker_transport_options
from chalicelib.core.settings import Settings
from chalicelib.core.telemetry import configure_logging


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured for at-least-once delivery of idempotent jobs."""
    celery = Celery("media-jobs")
    celery.conf.update(
        broker_url=settings.broker_url,
        # kombu's Redis transport, but a garbage message cannot stop the worker.
        broker_transport="worker.broker.transport:PoisonSafeRedisTransport",
        broker_transport_options=broker_transport_options(settings),
        # Keep reconnecting for ever: workers resume by themselves after a
        # Redis restart or failover.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend=settings.celery_result_backend or None,
        task_ignore_result=not settings.celery_result_backend,
        # JSON only: a message can never make a worker unpickle code.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        # At least once: acknowledge after the task ran; if the worker process
        # dies mid-task, the message goes back to the queue.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task running when the broker connection drops goes on: its writes retry in
        # place until Redis is back, and it finishes its job. Its message may come back
        # (an acknowledgement lost with the connection); that second delivery finds the
        # job completed, or its lease held, and is dropped. Cancelling instead threw
        # away every running job's work at each broker restart.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_prefetch_multiplier=1,
        # A new pool process loads the text models before it reports UP
        # (worker_process_init); on a busy machine that takes longer than Celery's
        # 4 s default, and Celery killed and replaced it over and over (seen after a
        # Redis restart in the compose test).
        worker_proc_alive_timeout=30,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_hard_time_limit,
        task_default_queue=settings.celery_queue,
        task_queues=None,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        imports=("worker.tasks", "worker.webhooks.delivery"),
        # Keeps messages it cannot run in the dead-letter list for an operator.
        worker_consumer="worker.broker.dead_lettering:DeadLetteringConsumer",
    )
    return celery


@setup_logging.connect
def _json_logs(**_: Any) -> None:
    """Structured JSON logs instead of Celery's own text format."""
    configure_logging(settings)


settings = Settings.from_env()
# A deployed worker must not send unsigned webhooks: refuse to start instead.
settings.check_webhook_signing()
app = make_celery(settings)
