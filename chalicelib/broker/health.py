"""The queue's health as numbers: length, age of the oldest waiting job, dead letters."""

from __future__ import annotations

import time

from chalicelib.broker.dead_letters import DeadLetters
from chalicelib.broker.inspection import QueueInspector
from chalicelib.jobs.store import JobStore


def queue_figures(
    store: JobStore, queue: QueueInspector, dead_letters: DeadLetters
) -> dict[str, float]:
    """``QueueLength``, ``QueueOldestJobAge`` (seconds, 0 when empty) and ``DeadLetters``.

    These are the metrics the autoscaling policy and the alarms in ``infra/`` use.
    """
    oldest_age = 0.0
    oldest_id = queue.oldest_task_id()
    if oldest_id is not None:
        job = store.get(oldest_id)
        if job is not None:
            oldest_age = max(0.0, time.time() - job.created_at)
    return {
        "QueueLength": float(queue.queue_length()),
        "QueueOldestJobAge": round(oldest_age, 1),
        "DeadLetters": float(dead_letters.count()),
    }
