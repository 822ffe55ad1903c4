"""A bare Celery app with one no-op task: the queue's own round trip, the e2e reference.

Same Redis, same serializer and late acknowledgement as the service's workers,
nothing else: no job record, no S3, no pipeline.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("bench-noop")
app.conf.update(
    broker_url=os.environ["REDIS_URL"],
    result_backend=os.environ["REDIS_URL"],
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop() -> None:
    """Does nothing: the round trip is all queue."""
