"""The reconciler: finds jobs that no task will ever finish and queues them again.

A crash between writing a job's record and queueing its task, a message lost
with a Redis failover, or a worker lost without redelivery leaves a job
``pending`` or ``processing`` with no task for it. Processing is idempotent,
so queueing such a job again is always safe; a job is only touched when its
task is neither waiting in the queue nor delivered and unacknowledged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from chalicelib.broker.inspection import QueueInspector
from chalicelib.broker.producer import TaskQueue
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.jobs.store import JobStore

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one pass found and did."""

    checked: int = 0
    requeued: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


def reconcile_stuck_jobs(
    store: JobStore,
    queue: TaskQueue,
    inspector: QueueInspector,
    settings: Settings,
    now: float | None = None,
) -> ReconcileReport:
    """One pass with the graces from ``settings``: a dead worker's task comes back by
    itself within the visibility timeout, so processing jobs get that plus a minute."""
    return reconcile(
        store,
        queue,
        inspector,
        pending_grace=settings.reconcile_pending_grace,
        processing_grace=settings.visibility_timeout + 60,
        now=now,
    )


def reconcile(
    store: JobStore,
    queue: TaskQueue,
    inspector: QueueInspector,
    pending_grace: float,
    processing_grace: float,
    now: float | None = None,
) -> ReconcileReport:
    """Queue again every job stuck without a task.

    ``pending_grace``: a pending job younger than this may still be on its way
    into the queue. ``processing_grace``: a processing job updated more
    recently than this may still be running (use the visibility timeout plus a
    margin: a dead worker's task comes back by itself within it).
    """
    now = time.time() if now is None else now
    report = ReconcileReport()
    candidates = store.active_before(now - pending_grace)
    if not candidates:
        return report
    known = inspector.known_task_ids()
    for job_id in candidates:
        report.checked += 1
        job = store.get(job_id)
        if job is None or job.status in jobs.TERMINAL:
            store.forget_active(job_id)
            report.forgotten.append(job_id)
            continue
        if job_id in known:
            continue
        quiet_for = now - job.updated_at
        stuck = (job.status == jobs.PENDING and quiet_for >= pending_grace) or (
            job.status == jobs.PROCESSING and quiet_for >= processing_grace
        )
        if stuck:
            queue.enqueue(job_id, job.queue or None)
            report.requeued.append(job_id)
            log.warning("requeued a stuck job", extra={"job_id": job_id, "status": job.status})
    return report
