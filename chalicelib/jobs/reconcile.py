"""The reconciler: finds jobs that no task will ever finish and queues them again.

A crash between writing a job's record and queueing its task, a message lost
with a Redis restart or failover, or a worker lost with its task leaves a job
``pending`` or ``processing`` with no task for it. Processing is idempotent, so
queueing such a job again is always safe (a worker that finds the job's lease
held by another drops the duplicate). What counts as evidence of a live task:

- ``processing``: the lease its worker renews (``JobStore.take_lease``), or its
  task waiting in a queue. A delivered, unacknowledged message is not: a worker
  that lost its connection keeps the entry, and kombu puts it back only after the
  visibility timeout, when a sweep gets to it.
- ``pending``: its task waiting in a queue, or delivered within the visibility
  timeout (a worker holds it until a pool process is free). A batch's job still
  waiting in its batch has no task by design: the batch feeder queues it
  (``batch_feed.reconcile_batches`` is the batches' own pass).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from chalicelib.broker.inspection import QueueInspector
from chalicelib.broker.producer import TaskQueue
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.jobs.batches import BatchStore
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
    batches: BatchStore | None = None,
    now: float | None = None,
) -> ReconcileReport:
    """One pass with the graces from ``settings``."""
    return reconcile(
        store,
        queue,
        inspector,
        pending_grace=settings.reconcile_pending_grace,
        delivery_trusted_for=settings.visibility_timeout,
        batches=batches,
        now=now,
    )


def reconcile(
    store: JobStore,
    queue: TaskQueue,
    inspector: QueueInspector,
    pending_grace: float,
    delivery_trusted_for: float,
    batches: BatchStore | None = None,
    now: float | None = None,
) -> ReconcileReport:
    """Queue again every job stuck without a task.

    ``pending_grace``: a pending job younger than this may still be on its way
    into the queue. ``delivery_trusted_for``: a pending job's task delivered this
    recently may still be held by a live worker (the visibility timeout).
    """
    now = time.time() if now is None else now
    report = ReconcileReport()
    candidates = store.active_before(now - pending_grace)
    if not candidates:
        return report
    known = inspector.known_tasks(delivered_after=now - delivery_trusted_for)
    for job_id in candidates:
        report.checked += 1
        job = store.get(job_id)
        if job is None or job.status in jobs.TERMINAL:
            store.forget_active(job_id)
            report.forgotten.append(job_id)
            continue
        if job_id in known.waiting:
            continue
        if job.batch_id and batches is not None and batches.is_waiting(job.batch_id, job_id):
            continue
        if job.status == jobs.PENDING:
            stuck = job_id not in known.delivered and now - job.updated_at >= pending_grace
        else:
            stuck = store.lease_holder(job_id) is None
        if stuck:
            queue.enqueue(job_id, job.queue or None)
            report.requeued.append(job_id)
            log.warning("requeued a stuck job", extra={"job_id": job_id, "status": job.status})
    return report
