"""Thin Celery tasks: load the job, run the pipeline, record the outcome."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from typing import Any

from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import task_postrun, worker_process_init, worker_ready

from chalicelib.backends import Backends
from chalicelib.broker.workers import REFRESH_SECONDS
from chalicelib.core.errors import (
    InvalidJobId,
    JobTimeout,
    ServiceError,
    ServiceUnavailable,
    WorkLimitExceeded,
)
from chalicelib.core.telemetry import emit_metrics
from chalicelib.jobs import model as jobs
from chalicelib.jobs.contract import PROCESS_TASK, check_job_id
from chalicelib.jobs.model import Job
from chalicelib.media.cost import work_limit_seconds
from chalicelib.media.options import parse_options
from chalicelib.tenancy.tenants import ANONYMOUS
from worker.celery_app import app, settings
from worker.context import get_context
from worker.deadline import Deadline
from worker.heap import keeper as heap_keeper
from worker.imaging import engine as imaging_engine
from worker.lease import JobLease, new_owner
from worker.pipeline import run_job
from worker.text.analysis import warm_up
from worker.webhooks.delivery import queue_webhook
from worker.work_limit import WorkLimit

log = logging.getLogger(__name__)

# A job whose task started this many times without finishing (the worker was
# killed each time, or the hard time limit struck) is failed for good rather
# than handed out again forever.
MAX_ATTEMPTS = 3


@worker_process_init.connect
def _prepare_process(**_: Any) -> None:
    """Load the text models and compile the options' validator once per pool process,
    not in the first job's time; then give back what building them freed (compiling
    the validator alone leaves about 4 MB of freed heap behind)."""
    warm_up()
    parse_options(None)
    gc.collect()
    heap_keeper.started(settings.worker_heap_keep_bytes)


@worker_ready.connect
def _announce_engine(sender: Any = None, **_: Any) -> None:
    """The start log line names the imaging engine (Pillow or Pillow-SIMD, version and
    SIMD level), and the worker records it for ``/api/health``."""
    engine = imaging_engine.current()
    log.info(
        "worker ready: imaging engine %s",
        engine.describe(),
        extra={"imaging_engine": engine.as_facts(), "codecs": list(engine.codecs)},
    )
    _record_facts(getattr(sender, "hostname", "") or "")


# When this process last recorded the worker's facts (monotonic seconds; 0: never).
_facts_recorded_at = 0.0


def _record_facts(hostname: str) -> None:
    """Records this worker's imaging engine under its hostname, best effort: Redis away
    only costs the health answer its line, never a job."""
    global _facts_recorded_at
    if not hostname:
        return
    try:
        get_context().workers.record(hostname, imaging_engine.current().as_facts())
        _facts_recorded_at = time.monotonic()
    except ServiceError as exc:
        log.warning("could not record the worker's facts: %s", exc)


@task_postrun.connect
def _refresh_facts(sender: Any = None, **_: Any) -> None:
    """Keeps a long-running worker's facts fresh (at most one Redis write per interval)."""
    if _facts_recorded_at and time.monotonic() - _facts_recorded_at < REFRESH_SECONDS:
        return
    request = getattr(sender, "request", None)
    _record_facts(getattr(request, "hostname", "") or "")


@task_postrun.connect
def _release_memory(**_: Any) -> None:
    """Give the heap pages a finished task freed back to the system, once the process
    holds more than ``WORKER_HEAP_KEEP_BYTES`` over its size at start.

    A job's large buffers are freed on the resampling threads' malloc arenas too,
    and glibc keeps freed pages (its mmap threshold rises after the first large
    free), so a pool process otherwise keeps its largest job's working set for
    good and grows with fragmentation. Up to the allowance, the next job reuses
    those pages instead of faulting in new ones. Runs after the job's status is written.
    """
    heap_keeper.after_job()


# Every wait of a run: between retries in place, and for another holder's lease
# (tests record them instead).
sleep = time.sleep


def _sleep(seconds: float) -> None:
    sleep(seconds)


def backoff_seconds(retries: int) -> float:
    """Exponential backoff for transient errors: 1, 2, 4, 8 … capped at 30 s."""
    return float(min(30, 2**retries))


@app.task(name=PROCESS_TASK, bind=True)
def process_job(self: Any, *args: Any, **kwargs: Any) -> str:
    """Process one job by id; returns what happened (for logs and tests).

    Takes any arguments so that a malformed message is dead-lettered here
    rather than failing inside Celery before the task runs.
    """
    deadline = Deadline.for_task(settings.task_soft_time_limit)
    ctx = get_context()
    raw_id = kwargs.get("job_id") if not args and set(kwargs) == {"job_id"} else None
    try:
        job_id = check_job_id(raw_id)
    except InvalidJobId:
        ctx.dead_letters.push(
            "malformed task arguments",
            task=PROCESS_TASK,
            task_id=self.request.id,
            args=list(args),
            kwargs=kwargs,
        )
        return "dead-lettered"
    worker = self.request.hostname or ""
    lease = JobLease(
        ctx.store, job_id, new_owner(), settings.processing_lease_seconds, sleep=_sleep
    )
    with lease:
        try:
            return process_retrying(ctx, job_id, deadline, lease, worker=worker)
        except OutOfTime as exc:
            # Redis or S3 is still away and this run cannot wait longer: end it without
            # acknowledging its message, which goes back to the queue (or, Redis away,
            # stays delivered until the visibility timeout puts it back; the lapsed lease
            # lets the reconciler queue the job sooner). It counts as an attempt.
            log.warning("transient error outlasted the run: %s", exc, extra={"job_id": job_id})
            raise Reject(str(exc), requeue=True) from exc
        except (SoftTimeLimitExceeded, JobTimeout):
            _fail(ctx, job_id, JobTimeout())
            return "failed"
        except ServiceError as exc:  # permanent: a bad image, bad options, a refused S3 call;
            # or S3/Redis unavailable through every retry
            _fail(ctx, job_id, exc)
            return "failed"
        except Exception as exc:
            # A bug or an image that breaks a library: fail the job, keep the worker.
            log.exception("job crashed", extra={"job_id": job_id})
            _fail(
                ctx, job_id, ServiceError(f"Processing failed unexpectedly ({type(exc).__name__}).")
            )
            return "failed"


class OutOfTime(Exception):
    """A transient error this run has no time left to wait out."""


def process_retrying(
    ctx: Backends, job_id: str, deadline: Deadline, lease: JobLease, worker: str = ""
) -> str:
    """``process``, tried again in place with backoff on transient errors.

    In place, not by publishing a retry message: a retry published while Redis
    restarts, or held in a worker's memory until its countdown, can be lost with the
    connection after the original message was acknowledged. Raises the last
    ``ServiceUnavailable`` after ``TASK_MAX_RETRIES`` retries, ``OutOfTime`` when the
    next wait would not fit in the run's time budget.
    """
    retries = 0
    while True:
        try:
            return process(ctx, job_id, deadline, lease, worker=worker)
        except ServiceUnavailable as exc:
            if retries >= settings.task_max_retries:
                raise
            delay = backoff_seconds(retries)
            # Keep a second for the work itself after the wait.
            if deadline.remaining() < delay + 1:
                raise OutOfTime(exc.message) from exc
            log.warning(
                "transient error, retrying in %ss: %s", delay, exc, extra={"job_id": job_id}
            )
            # The attempt counter is for runs that never end (a killed worker); this run
            # goes on, so the start it counted is taken back.
            with contextlib.suppress(ServiceError):
                ctx.store.count_attempt(job_id, -1)
            _note(ctx, job_id, f"Retrying after a passing error ({exc.code}).")
            _sleep(delay)
            retries += 1


def process(
    ctx: Backends, job_id: str, deadline: Deadline, lease: JobLease, worker: str = ""
) -> str:
    """The task's work for one well-formed job id: the state machine around the pipeline.

    Raises what the task maps to outcomes: ``ServiceUnavailable`` (retry),
    ``JobTimeout``, any other ``ServiceError`` (fail at once).
    """
    job = ctx.store.get(job_id)
    if job is None:
        # Deleted before a worker took it (or expired): nothing to do, and not a dead
        # letter, which would let clients fill the list by deleting their jobs.
        log.info("task for a job that no longer exists", extra={"job_id": job_id})
        return "gone"
    if job.status in jobs.TERMINAL:
        # A redelivery of a finished job: nothing to redo, nothing to change.
        return "already-" + job.status
    if not lease.take(wait=lease.seconds + 1):
        # A second delivery of a job another worker is running (a message put back after
        # a connection loss, or queued again by the reconciler): that worker finishes it,
        # or its lease lapses and the reconciler queues the job again.
        log.info("job is running on another worker", extra={"job_id": job_id})
        return "running-elsewhere"
    if lease.waited:
        # The other holder may have finished the job while this delivery waited.
        job = ctx.store.get(job_id)
        if job is None or job.status in jobs.TERMINAL:
            return "already-" + (job.status if job else "gone")
    attempts = ctx.store.count_attempt(job_id)
    if attempts > MAX_ATTEMPTS:
        _fail(
            ctx,
            job_id,
            ServiceError(f"The job was started {attempts - 1} times without finishing; giving up."),
        )
        ctx.dead_letters.push(
            "too many attempts", task=PROCESS_TASK, task_id=job_id, kwargs={"job_id": job_id}
        )
        return "failed"
    # The record names the worker node that took the job last (which container, under
    # `docker compose --scale`), for an operator tracing a job and for the compose test.
    applied, before = ctx.store.transition(
        job_id, jobs.PROCESSING, progress=5, message="Processing.", worker=worker
    )
    if not applied:
        if before is None:
            # Deleted as this delivery took it: the delete saw the lease and left the
            # job's place in flight for this run to give back.
            _release(ctx, job)
        return f"skipped-{before}"
    work_limit = WorkLimit(work_limit_seconds(job.cost_ms, ctx.settings), job.cost_ms)

    def still_there() -> None:
        # The status alone (a stage boundary's check; the whole record is 20-odd fields):
        # a record is written whole and no write recreates a deleted one.
        if ctx.store.statuses([job_id])[job_id] is None:
            raise JobDeleted()

    try:
        with work_limit.armed():
            result = run_job(ctx, job, deadline, checks=(work_limit.check, still_there))
    except JobDeleted:
        return _deleted_while_running(ctx, job)
    except BaseException as exc:
        if isinstance(exc, WorkLimitExceeded) or work_limit.struck:
            _charge_overrun(ctx, job, work_limit)
        with contextlib.suppress(ServiceError):
            if ctx.store.get(job_id) is None:
                return _deleted_while_running(ctx, job)
        if work_limit.struck and not isinstance(exc, WorkLimitExceeded):
            # A library turned the limit's exception into one of its own.
            raise work_limit.error() from exc
        raise
    applied, before = ctx.store.transition(
        job_id,
        jobs.COMPLETED,
        progress=100,
        message="Completed.",
        result_key=ctx.objects.output_key(job_id, "result.json"),
        result=json.dumps(result, separators=(",", ":")),
    )
    if before is None:
        return _deleted_while_running(ctx, job)
    if not applied:
        return f"skipped-{before}"
    _release(ctx, job)
    emit_metrics(
        ctx.settings,
        {
            "JobsCompleted": (1, "Count"),
            "JobDuration": (result["timings_ms"]["total"], "Milliseconds"),
        },
        job_id=job_id,
    )
    _notify(job.callback_url, job_id)
    return "completed"


class JobDeleted(Exception):
    """The job's record was deleted while it ran: the run stops at the next stage."""


def _deleted_while_running(ctx: Backends, job: Job) -> str:
    """Remove what this run wrote, and give back the job's place in flight: a delete
    of a running job leaves it held until the worker has stopped."""
    with contextlib.suppress(ServiceError):
        ctx.objects.delete_prefix(ctx.objects.result_prefix(job.job_id))
    _release(ctx, job)
    log.info("job deleted while it ran; stopped", extra={"job_id": job.job_id})
    return "deleted-while-running"


def _charge_overrun(ctx: Backends, job: Job, work_limit: WorkLimit) -> None:
    """Charge the tenant's hourly work for what the job used past its price (the price
    itself was charged at submit)."""
    overrun_ms = work_limit.used_ms() - job.cost_ms
    if overrun_ms > 0:
        with contextlib.suppress(ServiceError):
            ctx.quotas.charge_work(job.tenant_id or ANONYMOUS, overrun_ms)


def _fail(ctx: Backends, job_id: str, error: ServiceError) -> None:
    log.info("job failed: %s", error.code, extra={"job_id": job_id})
    applied, _ = ctx.store.transition(
        job_id,
        jobs.FAILED,
        message="Failed.",
        error_code=error.code,
        error_message=error.message,
    )
    if applied:
        emit_metrics(ctx.settings, {"JobsFailed": (1, "Count")}, job_id=job_id, code=error.code)
        job = ctx.store.get(job_id)
        if job is not None:
            _release(ctx, job)
        _notify(job.callback_url if job else None, job_id)


def _release(ctx: Backends, job: Job) -> None:
    """The job ended: it no longer counts against its tenant's jobs in flight; its batch
    counts it, and the tenant's waiting batch jobs may take the freed place."""
    tenant_id = job.tenant_id or ANONYMOUS
    # A missed release only keeps the slot until it goes stale (limits.STALE_AFTER_SECONDS).
    with contextlib.suppress(ServiceError):
        ctx.quotas.release_job(tenant_id, job.job_id)
    # Missed here (Redis away), the reconciler's batch pass counts the end and feeds.
    try:
        feeder = ctx.batch_feeder()
        if job.batch_id:
            feeder.job_ended(job.batch_id, job.job_id)
        feeder.feed_tenant(tenant_id)
    except ServiceError as exc:
        log.warning("batch bookkeeping deferred: %s", exc.code, extra={"job_id": job.job_id})


def _notify(callback_url: str | None, job_id: str) -> None:
    """Queue the webhook of a job that just reached its final status."""
    if callback_url:
        queue_webhook(job_id)


def _note(ctx: Backends, job_id: str, message: str) -> None:
    # If the store is what failed, the retry will report again.
    with contextlib.suppress(ServiceError):
        ctx.store.update_while(job_id, jobs.PROCESSING, message=message)
