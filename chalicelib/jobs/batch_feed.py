"""Feeds a batch's waiting jobs into the queue as its tenant's slots free, and reports
the batch once every job has ended.

Three things drive it, so that no restart strands a batch: the submit (the first
jobs), the end of any job of the tenant (a worker, or a DELETE: a slot freed), and
the reconciler's periodic pass (``reconcile_batches``), which also repairs what a
crash left half done: a job that ended without being counted, a report not queued.
Every step is safe to repeat: moving a job out of the waiting set is atomic with
counting it in flight, counting an end is a set insert, and the report is claimed once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.broker.producer import TaskQueue
from chalicelib.core.errors import ServiceError
from chalicelib.jobs import model as jobs
from chalicelib.jobs.batches import BatchStore
from chalicelib.jobs.store import JobStore

log = logging.getLogger(__name__)

# The most jobs one feeding step moves into the queue.
FEED_MOST = 100


class Slots(Protocol):
    """The tenant's jobs in flight, as the feeder needs them (``TenantQuotas`` behind)."""

    def admit_waiting(
        self, tenant_id: str, waiting_key: str, heavy_key: str, most: int
    ) -> list[str]: ...

    def release(self, tenant_id: str, job_id: str) -> None: ...


@dataclass
class BatchFeeder:
    """Moves waiting jobs into the queue; counts ends; sends each batch's report once."""

    batches: BatchStore
    store: JobStore
    queue: TaskQueue
    slots: Slots

    def feed_batch(self, batch_id: str, tenant_id: str) -> list[str]:
        """Queue as many of the batch's waiting jobs as the tenant's free slots allow;
        the ids queued."""
        moved = self.slots.admit_waiting(
            tenant_id,
            self.batches.waiting_key(batch_id),
            self.batches.heavy_key(batch_id),
            FEED_MOST,
        )
        queued = []
        for job_id in moved:
            job = self.store.get(job_id)
            if job is None or job.status in jobs.TERMINAL:
                # Deleted while it waited, or never recorded (its submit crashed).
                self.slots.release(tenant_id, job_id)
                self.batches.mark_ended(batch_id, job_id)
                continue
            # Its pending time starts now: the reconciler gives it the usual grace.
            self.store.update_while(job_id, jobs.PENDING, message="Waiting for a worker.")
            try:
                self.queue.enqueue(job_id, job.queue or None)
            except ServiceError:
                # Out of the batch and counted in flight, with no task yet: the
                # reconciler queues it like any pending job without one.
                log.warning("could not queue a batch's job", extra={"job_id": job_id})
                continue
            queued.append(job_id)
        if self.batches.waiting_count(batch_id) == 0:
            self.batches.stop_feeding(tenant_id, batch_id)
        self.finish(batch_id)
        return queued

    def feed_tenant(self, tenant_id: str) -> int:
        """Feed the tenant's batches, oldest first, while slots are free; jobs queued."""
        queued = 0
        for batch_id in self.batches.feeding(tenant_id):
            queued += len(self.feed_batch(batch_id, tenant_id))
        return queued

    def job_ended(self, batch_id: str, job_id: str) -> None:
        """A job of the batch ended (or was removed): count it, report if it was the last."""
        self.batches.mark_ended(batch_id, job_id)
        self.finish(batch_id)

    def finish(self, batch_id: str) -> bool:
        """Queue the batch's report if every job has ended and no one has yet."""
        if not self.batches.try_finish(batch_id):
            return False
        batch = self.batches.get(batch_id)
        if batch is None or not batch.callback_url:
            return True
        try:
            self.queue.notify_batch(batch_id)
        except ServiceError:
            # Claimed but not queued: give the claim back for the next pass.
            with contextlib.suppress(ServiceError):
                self.batches.unfinish(batch_id)
            raise
        log.info("batch ended; its webhook is queued", extra={"batch_id": batch_id})
        return True


@dataclass
class BatchReport:
    """What one reconciler pass over the open batches did."""

    checked: int = 0
    queued: list[str] = field(default_factory=list)
    ends_found: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


def reconcile_batches(feeder: BatchFeeder, now: float | None = None) -> BatchReport:
    """For every batch not yet reported whose submit has ended: feed it, count the ends
    a crash left uncounted (a job final or gone, no longer waiting), report it if done."""
    now = time.time() if now is None else now
    report = BatchReport()
    batches = feeder.batches
    for batch_id in batches.open_before(now):
        report.checked += 1
        batch = batches.get(batch_id)
        if batch is None:  # expired
            batches.forget_open(batch_id)
            continue
        report.queued += feeder.feed_batch(batch_id, batch.tenant_id)
        ended = batches.ended(batch_id)
        unsure = [j for j in batches.job_ids(batch_id) if j not in ended]
        missed = [
            job_id
            for job_id, status in feeder.store.statuses(unsure).items()
            if (status in jobs.TERMINAL or status is None)
            and not batches.is_waiting(batch_id, job_id)
        ]
        if missed:
            batches.mark_ended(batch_id, *missed)
            report.ends_found += missed
        feeder.finish(batch_id)
        # Reported by this pass (here, or by the feeding above when it counted the last).
        after = batches.get(batch_id)
        if after is not None and after.notified_at is not None:
            report.finished.append(batch_id)
    return report
