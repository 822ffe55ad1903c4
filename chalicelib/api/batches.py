"""``BatchService``: submitting many jobs as one batch, reading it, deleting it.

A batch is priced and charged whole at submit (refused whole over the tenant's work
per hour); its jobs are recorded at once but wait in the batch, and the feeder
(``chalicelib.jobs.batch_feed``) queues them as the tenant's slots free.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.api.service import JobService, Submission
from chalicelib.core.errors import (
    BatchNotFound,
    InvalidBatchId,
    InvalidJobId,
    InvalidRequest,
    JobNotFound,
    ServiceError,
)
from chalicelib.jobs.batches import Batch, BatchStore, describe_batch
from chalicelib.jobs.contract import check_job_id, new_job_id
from chalicelib.jobs.model import Job
from chalicelib.media.cost import JobCost, is_heavy, job_queue
from chalicelib.tenancy.idempotency import fingerprint
from chalicelib.tenancy.tenants import Tenant

if TYPE_CHECKING:
    from chalicelib.backends import Backends

log = logging.getLogger(__name__)

# Jobs on one page of GET /api/batches/{id}: by default, and at most.
PAGE_DEFAULT = 100
PAGE_MAX = 100
# Items checked and stored this many at a time: their S3 calls (to check an upload a
# head and a read of its header, to store an item a put, or a copy and a delete) wait on
# the network, five of them an upload, and a batch holds up to 500 items.
ITEM_THREADS = 8

T = TypeVar("T")
R = TypeVar("R")


def each_item(
    work: Callable[[int, T], R], items: list[T]
) -> tuple[list[R | None], ServiceError | None]:
    """``work(index, item)`` for every item, ``ITEM_THREADS`` at a time: the results in
    order (None where it failed) and the error of the first item that failed, if any
    (the same one a loop would have stopped at). Every item's work has ended on return."""
    with ThreadPoolExecutor(max_workers=ITEM_THREADS) as pool:
        futures = [pool.submit(work, index, item) for index, item in enumerate(items)]
    results: list[R | None] = []
    first: ServiceError | None = None
    for future in futures:
        try:
            results.append(future.result())
        except ServiceError as exc:
            results.append(None)
            first = first or exc
    return results, first


@dataclass(frozen=True)
class BatchAccepted:
    """The answer to a batch submit: the batch, its jobs, whether this request made it."""

    batch_id: str
    status: str
    job_ids: list[str]
    created: bool


def _item(index: int, exc: ServiceError) -> ServiceError:
    """``exc`` naming the item of the batch it is about."""
    exc.details["item"] = index
    exc.message = f"Item {index}: {exc.message}"
    return exc


class BatchService:
    """Batches of one tenant: every rule of a job applies to each of its items."""

    def __init__(self, jobs: JobService, batches: BatchStore):
        self.jobs = jobs
        self.batches = batches

    @classmethod
    def from_backends(cls, backends: Backends, jobs: JobService) -> BatchService:
        return cls(jobs, backends.batches)

    # -- validation: every item, before anything is stored ------------------------

    def validate_files(
        self,
        tenant: Tenant,
        images: list[bytes],
        text: str,
        options: Any,
        preset: str | None,
        callback_url: str | None,
    ) -> list[Submission]:
        """A multipart batch: the images in the request, one shared text."""
        resolved = self.jobs.resolve_options(tenant.tenant_id, options, preset)
        self.jobs.check_callback(callback_url)
        found = []
        # In this thread: checking bytes in memory is the CPU's work, not the network's.
        for index, image in enumerate(images):
            try:
                submission = self.jobs.validate(image, text, resolved, tenant=tenant)
            except ServiceError as exc:
                raise _item(index, exc) from None
            found.append(replace(submission, preset=preset))
        return found

    def validate_uploads(
        self,
        tenant: Tenant,
        items: list[dict[str, Any]],
        options: Any,
        preset: str | None,
        callback_url: str | None,
    ) -> list[Submission]:
        """A JSON batch: each item names a direct upload of the tenant's and its text."""
        resolved = self.jobs.resolve_options(tenant.tenant_id, options, preset)
        self.jobs.check_callback(callback_url)
        seen: set[Any] = set()
        for index, item in enumerate(items):
            upload_id = item["upload_id"]
            if isinstance(upload_id, str) and upload_id in seen:
                raise InvalidRequest(
                    f"Item {index}: upload_id {upload_id} is given twice.",
                    field=f"items[{index}].upload_id",
                )
            seen.add(upload_id)

        def check(index: int, item: dict[str, Any]) -> Submission:
            try:
                submission = self.jobs.validate_upload(
                    tenant, item["upload_id"], item["text"], resolved
                )
            except ServiceError as exc:
                raise _item(index, exc) from None
            return replace(submission, preset=preset)

        found, error = each_item(check, items)
        if error is not None:
            raise error
        return [submission for submission in found if submission is not None]

    # -- commands -------------------------------------------------------------------

    def submit_files(
        self,
        tenant: Tenant,
        images: list[bytes],
        text: str,
        options: Any,
        preset: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BatchAccepted:
        """``POST /api/batches`` as multipart: the images and one shared text."""
        request = fingerprint(
            "batch-files",
            [hashlib.sha256(image).hexdigest() for image in images],
            text,
            options,
            preset,
            callback_url,
        )
        return self._submit(
            tenant,
            request,
            lambda: self.validate_files(tenant, images, text, options, preset, callback_url),
            preset,
            callback_url,
            idempotency_key,
        )

    def submit_uploads(
        self,
        tenant: Tenant,
        items: list[dict[str, Any]],
        options: Any,
        preset: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BatchAccepted:
        """``POST /api/batches`` as JSON: items naming the tenant's direct uploads."""
        request = fingerprint("batch-uploads", items, options, preset, callback_url)
        return self._submit(
            tenant,
            request,
            lambda: self.validate_uploads(tenant, items, options, preset, callback_url),
            preset,
            callback_url,
            idempotency_key,
        )

    def _submit(
        self,
        tenant: Tenant,
        request: str,
        validate: Callable[[], list[Submission]],
        preset: str | None,
        callback_url: str | None,
        idempotency_key: str | None,
    ) -> BatchAccepted:
        """Create the batch: check and price every item, charge the whole work, record
        the batch and its jobs (waiting), then let the feeder queue what the tenant's
        slots allow. Refused whole (``RateLimited``) when its work would pass the hour's;
        a failure after the charge gives everything back.

        The Idempotency-Key is claimed first, from the request as sent: a repeat of a
        batch of uploads finds its batch although its uploads are now used."""
        jobs = self.jobs
        scope = tenant.tenant_id
        batch_id = new_job_id()
        claimed = ""
        if idempotency_key is not None:
            earlier = jobs.claim(scope, idempotency_key, request, batch_id, self._status_of)
            if earlier is not None:
                return BatchAccepted(
                    earlier.job_id,
                    earlier.status,
                    self.batches.job_ids(earlier.job_id),
                    created=False,
                )
            claimed = jobs.idempotency.redis_key(scope, idempotency_key)
        try:
            submissions = validate()
            costs: list[JobCost] = []
            for index, submission in enumerate(submissions):
                try:
                    costs.append(jobs.price(submission))
                except ServiceError as exc:
                    raise _item(index, exc) from None
            callback_url = jobs.check_callback(callback_url)
        except ServiceError:
            if claimed:
                jobs.idempotency.forget(claimed)
            raise
        work_ms = sum(cost.total_ms for cost in costs)
        admitted_at = time.time()
        try:
            jobs.quotas.admit_work(scope, work_ms, tenant.limits_from(jobs.settings))
        except ServiceError:
            if claimed:
                jobs.idempotency.forget(claimed)
            raise
        job_ids = [new_job_id() for _ in submissions]
        batch = Batch(
            batch_id=batch_id,
            tenant_id=scope,
            created_at=admitted_at,
            total=len(job_ids),
            preset=preset or "",
            callback_url=callback_url or "",
            idempotency_key=claimed,
        )
        heavy = [j for j, c in zip(job_ids, costs, strict=True) if is_heavy(c, jobs.settings)]
        try:
            # The batch first, every job waiting: the reconciler never takes one of its
            # jobs for a lost one, and looks at the batch itself only after the grace.
            self.batches.create(
                batch, job_ids, heavy, admitted_at + jobs.settings.reconcile_pending_grace
            )
        except ServiceError:
            self._undo(batch, [], work_ms, admitted_at)
            raise

        def store(index: int, job_id: str) -> Job:
            cost = costs[index]
            queue = job_queue(cost, jobs.settings)
            return jobs.create_job(job_id, submissions[index], tenant, cost, queue, "", batch_id)

        created, error = each_item(store, job_ids)
        if error is not None:
            self._undo(batch, [job for job in created if job is not None], work_ms, admitted_at)
            raise error
        try:
            self.batches.start_feeding(scope, batch_id, admitted_at)
            jobs.feeder.feed_tenant(scope)
        except ServiceError:
            # Recorded whole: the reconciler's pass feeds it after its grace.
            log.warning("could not feed a new batch yet", extra={"batch_id": batch_id})
        log.info("batch submitted", extra={"batch_id": batch_id, "tenant": scope})
        return BatchAccepted(batch_id, "pending", job_ids, created=True)

    def _status_of(self, batch_id: str) -> str | None:
        batch = self.batches.get(batch_id)
        if batch is None:
            return None
        return str(describe_batch(self.batches, self.jobs.store, batch, 0, 0)["status"])

    def _undo(self, batch: Batch, created: list[Job], work_ms: float, admitted_at: float) -> None:
        """Best-effort removal of a batch whose submit failed, and its charge given back."""
        for job in created:
            self.jobs.undo_job(job, record=True)
        try:
            self.batches.delete(batch)
            self.jobs.quotas.refund_work(batch.tenant_id, work_ms, admitted_at)
            if batch.idempotency_key:
                self.jobs.idempotency.forget(batch.idempotency_key)
        except ServiceError:
            log.warning("could not undo a failed batch", extra={"batch_id": batch.batch_id})

    def get(self, batch_id: str, tenant: Tenant) -> Batch:
        """The tenant's batch; ``BatchNotFound`` for an unknown id and another tenant's."""
        try:
            check_job_id(batch_id)
        except InvalidJobId:
            raise InvalidBatchId() from None
        batch = self.batches.get(batch_id)
        if batch is None or batch.tenant_id != tenant.tenant_id:
            raise BatchNotFound()
        return batch

    def status(
        self, batch_id: str, tenant: Tenant, query: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """``GET /api/batches/{id}``: ``cursor`` (a page's ``next_cursor``) and ``limit``
        (1-100, default 100) page through its jobs; the counts cover them all."""
        batch = self.get(batch_id, tenant)
        query = dict(query or {})
        unknown = sorted(set(query) - {"limit", "cursor"})
        if unknown:
            raise InvalidRequest(f"Unknown query parameter {unknown[0]!r}.", field=unknown[0])
        raw_limit = query.get("limit", str(PAGE_DEFAULT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= PAGE_MAX:
            raise InvalidRequest(
                f"limit must be a whole number from 1 to {PAGE_MAX}.", field="limit"
            )
        cursor = query.get("cursor", "0")
        if not cursor.isdigit() or len(cursor) > 4:
            raise InvalidRequest("The cursor is not one a page gave.", field="cursor")
        # A cursor past the last job is an empty last page.
        start = min(int(cursor), batch.total)
        return describe_batch(self.batches, self.jobs.store, batch, start, int(raw_limit))

    def delete(self, batch_id: str, tenant: Tenant) -> None:
        """Remove the batch and every job of it, as a job's DELETE does."""
        batch = self.get(batch_id, tenant)
        job_ids = self.batches.job_ids(batch_id)
        # The batch first: nothing feeds or reports it while its jobs go.
        self.batches.delete(batch)
        for job_id in job_ids:
            try:
                self.jobs.delete(job_id, tenant, batch_hooks=False)
            except JobNotFound:
                continue  # deleted on its own before
        if batch.idempotency_key:
            self.jobs.idempotency.forget(batch.idempotency_key)
        self.jobs.feeder.feed_tenant(tenant.tenant_id)
        log.info("batch deleted", extra={"batch_id": batch_id})
