"""``JobService``: the business rules of creating, reading and deleting a tenant's jobs."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.api.intake import sniff_image_format, validate_text
from chalicelib.broker.producer import TaskQueue
from chalicelib.core.errors import (
    IdempotencyConflict,
    InvalidOptions,
    InvalidPresetName,
    InvalidRequest,
    JobNotFound,
    ServiceError,
    SourceMissing,
    UnknownPreset,
    UnsupportedImage,
    UploadAlreadyUsed,
    UploadNotFound,
    UploadTooLarge,
)
from chalicelib.core.settings import Settings
from chalicelib.core.telemetry import emit_metrics
from chalicelib.jobs import model as jobs
from chalicelib.jobs.batch_feed import BatchFeeder
from chalicelib.jobs.contract import check_job_id, new_job_id
from chalicelib.jobs.model import Job
from chalicelib.jobs.status import iso_time, status_body, summary_body
from chalicelib.jobs.storage import ObjectStore
from chalicelib.jobs.store import JobStore
from chalicelib.media.cost import JobCost, is_heavy, job_cost, job_queue
from chalicelib.media.formats import INPUT_FORMATS, UPLOAD_MIMES
from chalicelib.media.image_header import (
    ImageHeader,
    check_dimensions,
    check_frames,
    check_jpeg_scans,
    read_header,
)
from chalicelib.media.options import Options, decode_options, merge_options, parse_options
from chalicelib.tenancy.idempotency import IdempotencyKeys, fingerprint
from chalicelib.tenancy.limits import TenantQuotas
from chalicelib.tenancy.presets import Preset, PresetStore, check_name
from chalicelib.tenancy.tenants import ANONYMOUS, Tenant, describe
from chalicelib.tenancy.uploads import Upload, UploadRegistry
from chalicelib.webhooks.callbacks import (
    CallbackPolicy,
    Resolver,
    check_callback_url,
    system_resolver,
)

if TYPE_CHECKING:
    from chalicelib.backends import Backends

log = logging.getLogger(__name__)

# The first bytes of a direct upload read at submit: enough for every format's header
# (and a GIF's frames, which only the worker counts exactly).
HEADER_BYTES = 64 * 1024
# A request repeating an Idempotency-Key whose first request is still being admitted
# waits this long for its outcome (looking every 50 ms), then answers 409.
IDEMPOTENCY_WAIT_SECONDS = 5.0
IDEMPOTENCY_POLL_SECONDS = 0.05
# A claim older than this whose job has no record: the job expired, the key is free.
IDEMPOTENCY_STALE_SECONDS = 60.0
# Every wait of a submit (tests record them instead).
sleep = time.sleep
# Jobs on one page of GET /api/jobs: by default, and at most.
LIST_DEFAULT_LIMIT = 20
LIST_MAX_LIMIT = 100


@dataclass(frozen=True)
class Submission:
    """A validated request: an image (bytes, or a direct upload by id) and a text."""

    text: str
    options: Options
    image_format: str
    header: ImageHeader | None
    image: bytes | None = None
    upload_id: str | None = None
    callback_url: str | None = None
    preset: str | None = None

    def fingerprint(self) -> str:
        image_id = self.upload_id or hashlib.sha256(self.image or b"").hexdigest()
        return fingerprint(
            image_id, self.text, self.options.to_dict(), self.callback_url, self.preset
        )


@dataclass(frozen=True)
class Accepted:
    """The answer to a submit: the job, and whether this request created it."""

    job_id: str
    status: str
    created: bool


class JobService:
    """Creates jobs (price, admit, store, record, enqueue), answers their status, deletes them.

    Every call acts for one tenant: another tenant's job or upload is answered exactly
    as one that does not exist.
    """

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        objects: ObjectStore,
        queue: TaskQueue,
        idempotency: IdempotencyKeys,
        uploads: UploadRegistry,
        quotas: TenantQuotas,
        presets: PresetStore,
        feeder: BatchFeeder,
        resolver: Resolver = system_resolver,
    ):
        self.settings = settings
        self.store = store
        self.objects = objects
        self.queue = queue
        self.idempotency = idempotency
        self.uploads = uploads
        self.quotas = quotas
        self.presets = presets
        self.feeder = feeder
        self.resolver = resolver

    @classmethod
    def from_backends(cls, backends: Backends) -> JobService:
        return cls(
            backends.settings,
            backends.store,
            backends.objects,
            backends.queue,
            backends.idempotency,
            backends.uploads,
            backends.quotas,
            backends.presets,
            backends.batch_feeder(),
        )

    # -- validation: everything cheap, before anything is stored -----------------

    def resolve_options(self, tenant_id: str, options: Any, preset: Any) -> Options:
        """A request's options: its own, or the tenant's preset ``preset`` with the
        request's top-level keys laid over it. ``UnknownPreset`` for a name the tenant
        has no preset of (another tenant's preset is never seen)."""
        if preset is None:
            return parse_options(options)
        try:
            name = check_name(preset)
        except InvalidPresetName:
            raise UnknownPreset(
                "preset must be a preset's name: 1 to 40 lowercase letters, digits and dashes.",
                field="preset",
            ) from None
        found = self.presets.get(tenant_id, name)
        if found is None:
            raise UnknownPreset(f"No preset is named {name!r}.", field="preset", preset=name)
        return parse_options(merge_options(found.options, decode_options(options)))

    def check_callback(self, callback_url: str | None) -> str | None:
        """``callback_url`` when it follows the webhook rules (``InvalidCallback``)."""
        if callback_url is None:
            return None
        policy = CallbackPolicy.from_settings(self.settings)
        return check_callback_url(callback_url, policy, self.resolver) or None

    def _common(
        self,
        text: str,
        options: Any,
        callback_url: str | None,
        tenant_id: str = ANONYMOUS,
        preset: Any = None,
    ) -> tuple[str, Options, str | None]:
        text = validate_text(text, self.settings.max_text_chars)
        parsed = self.resolve_options(tenant_id, options, preset)
        return text, parsed, self.check_callback(callback_url)

    def validate(
        self,
        image: bytes,
        text: str,
        options: Any,
        callback_url: str | None = None,
        preset: Any = None,
        tenant: Tenant | None = None,
    ) -> Submission:
        """A multipart submission: the image bytes are in the request."""
        image_format = sniff_image_format(image)
        if image_format == "jpeg":
            check_jpeg_scans(image)
        tenant_id = tenant.tenant_id if tenant is not None else ANONYMOUS
        text, parsed, callback_url = self._common(text, options, callback_url, tenant_id, preset)
        return Submission(
            text=text,
            options=parsed,
            image_format=image_format,
            header=read_header(image),
            image=image,
            callback_url=callback_url,
            preset=preset,
        )

    def validate_upload(
        self,
        tenant: Tenant,
        upload_id: Any,
        text: str,
        options: Any,
        callback_url: str | None = None,
        preset: Any = None,
    ) -> Submission:
        """A JSON submission naming the tenant's direct upload: that it was uploaded,
        its size, and its type from its bytes."""
        if not isinstance(upload_id, str):
            raise InvalidRequest("upload_id must be a string.", field="upload_id")
        try:
            check_job_id(upload_id)
        except ServiceError:
            raise UploadNotFound() from None
        text, parsed, callback_url = self._common(
            text, options, callback_url, tenant.tenant_id, preset
        )
        upload = self.uploads.get(upload_id, tenant.tenant_id)
        if upload is None:
            raise UploadNotFound()
        if upload.job_id is not None:
            raise UploadAlreadyUsed()
        key = self.objects.incoming_key(upload_id)
        try:
            stored = self.objects.head(key)
        except SourceMissing:
            raise UploadNotFound() from None
        # S3 holds the upload to its form's exact size; checked again for an endpoint
        # that does not enforce policies (moto, some S3 look-alikes).
        if stored["bytes"] > min(upload.size, self.settings.max_source_bytes):
            raise UploadTooLarge(
                f"The upload is {stored['bytes']} bytes; its form allowed {upload.size}."
            )
        if stored["bytes"] < upload.size:
            raise InvalidRequest(
                f"The upload is {stored['bytes']} bytes, short of the {upload.size} "
                "its form declared; upload it again.",
                field="upload_id",
            )
        first = self.objects.get_head_bytes(key, HEADER_BYTES)
        image_format = sniff_image_format(first)
        header = read_header(first)
        if header is None and stored["bytes"] > len(first):
            # The first bytes do not hold the header (a TIFF's pages may start anywhere
            # in the file): read it whole, as the worker will, rather than price a guess.
            first = self.objects.get(key, max_bytes=self.settings.max_source_bytes)
            header = read_header(first)
        if image_format == "jpeg":
            check_jpeg_scans(first)
        return Submission(
            text=text,
            options=parsed,
            image_format=image_format,
            header=header,
            upload_id=upload_id,
            callback_url=callback_url,
            preset=preset,
        )

    def price(self, submission: Submission) -> JobCost:
        """The job's estimated work; ``ImageTooLarge`` for a header over the image limits
        (as the worker would refuse it), ``InvalidOptions`` naming the figures over the cap."""
        header = submission.header
        if header is not None:
            settings = self.settings
            check_dimensions(
                header.width,
                header.height,
                settings.max_image_pixels,
                settings.max_image_dimension,
            )
            check_frames(header.frames, settings.max_image_frames)
        text = submission.text
        cost = job_cost(submission.header, submission.options, bool(text.strip()), len(text))
        limit = self.settings.max_job_work_ms
        if cost.total_ms > limit:
            raise InvalidOptions(
                f"These options ask for {cost.describe()}; one job may ask for at most "
                f"{limit / 1000:g} s. Ask for fewer or smaller outputs, or cheaper formats "
                "(JPEG is cheapest), or split the work into several jobs.",
                field="options",
                work_ms=round(cost.total_ms),
                max_work_ms=limit,
            )
        return cost

    # -- commands ------------------------------------------------------------------

    def create_upload(
        self, tenant: Tenant, filename: Any, content_type: Any, size: Any
    ) -> dict[str, Any]:
        """A presigned POST for one image of exactly ``size`` bytes, straight to S3."""
        if not isinstance(filename, str) or not filename or len(filename) > 255:
            raise InvalidRequest("filename must be a non-empty string.", field="filename")
        if not isinstance(content_type, str) or content_type not in UPLOAD_MIMES:
            raise UnsupportedImage(
                "content_type must be an image type: " + ", ".join(UPLOAD_MIMES),
                field="content_type",
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidRequest("size must be a positive whole number of bytes.", field="size")
        limit = self.settings.max_source_bytes
        if size > limit:
            raise UploadTooLarge(f"The image is {size} bytes; at most {limit} are accepted.")
        upload_id = new_job_id()
        self.uploads.register(Upload(upload_id, tenant.tenant_id, content_type, size))
        post = self.objects.presigned_post(
            self.objects.incoming_key(upload_id), content_type, size, self.settings.upload_url_ttl
        )
        return {
            "upload_id": upload_id,
            "url": post["url"],
            "fields": post["fields"],
            "expires_in": self.settings.upload_url_ttl,
            "max_bytes": size,
        }

    def submit(
        self, submission: Submission, tenant: Tenant, idempotency_key: str | None = None
    ) -> Accepted:
        """Create the job for ``submission``, or return the earlier one for a repeated key.

        Priced first (``InvalidOptions`` over the cap), then admitted against the
        tenant's limits (``RateLimited``); a failure after that gives everything back.
        """
        cost = self.price(submission)
        heavy = is_heavy(cost, self.settings)
        job_id = new_job_id()
        scope = tenant.tenant_id
        claimed = ""
        if idempotency_key is not None:
            earlier = self.claim(
                scope, idempotency_key, submission.fingerprint(), job_id, self._job_status
            )
            if earlier is not None:
                return earlier
            claimed = self.idempotency.redis_key(scope, idempotency_key)
        admitted_at = time.time()
        try:
            self.quotas.admit_job(
                scope, job_id, cost.total_ms, heavy, tenant.limits_from(self.settings)
            )
        except ServiceError:
            if claimed:
                self.idempotency.forget(claimed)
            raise
        queue = job_queue(cost, self.settings)
        try:
            job = self.create_job(job_id, submission, tenant, cost, queue, claimed)
        except ServiceError:
            self._give_back(scope, job_id, cost.total_ms, admitted_at, claimed)
            raise
        return Accepted(job.job_id, job.status, created=True)

    def _job_status(self, job_id: str) -> str | None:
        job = self.store.get(job_id)
        return None if job is None else job.status

    def claim(
        self,
        scope: str,
        key: str,
        request_fingerprint: str,
        job_id: str,
        status_of: Callable[[str], str | None],
    ) -> Accepted | None:
        """Claim ``key`` for ``job_id`` (None), or answer with the first request's job
        (or batch: ``status_of`` reads what the key made, None while it does not exist).

        The first request may still be being admitted: its job has no record yet, and
        it may yet be refused (then it gives the key back). The repeat waits for the
        truth: the record (its job), the key given back (claimed for this request), or
        ``IdempotencyConflict`` after ``IDEMPOTENCY_WAIT_SECONDS``; never a 202 for a
        job that is never created.
        """
        polls = 0
        while True:
            earlier, age = self.idempotency.claim_with_age(scope, key, request_fingerprint, job_id)
            if earlier is None:
                return None
            status = status_of(earlier)
            if status is not None:
                return Accepted(earlier, status, created=False)
            if age > IDEMPOTENCY_STALE_SECONDS:
                # Its job expired or was removed long ago: the key is free again.
                self.idempotency.forget(self.idempotency.redis_key(scope, key))
                continue
            if polls * IDEMPOTENCY_POLL_SECONDS >= IDEMPOTENCY_WAIT_SECONDS:
                raise IdempotencyConflict(
                    "The first request with this Idempotency-Key is still being processed; "
                    "send it again in a few seconds."
                )
            sleep(IDEMPOTENCY_POLL_SECONDS)
            polls += 1

    def _give_back(
        self, tenant_id: str, job_id: str, work_ms: float, admitted_at: float, claimed: str
    ) -> None:
        """Undo the admission of a job that could not be created (best effort)."""
        try:
            self.quotas.release_job(tenant_id, job_id)
            self.quotas.refund_work(tenant_id, work_ms, admitted_at)
            if claimed:
                self.idempotency.forget(claimed)
        except ServiceError:
            log.warning("could not give back a failed submit's quota", extra={"job_id": job_id})

    def create_job(
        self,
        job_id: str,
        submission: Submission,
        tenant: Tenant,
        cost: JobCost,
        queue: str,
        idempotency_key: str,
        batch_id: str = "",
    ) -> Job:
        """Store the image, record the job, queue its task; all or nothing. A batch's
        job is not queued: it waits in its batch (``BatchFeeder`` queues it).

        The record exists before the task can run, and a failure at any step undoes
        the earlier ones: never a record without a task, nor a task without a record.
        A direct upload is claimed for this job (once) and copied to the job's own
        source key, so reusing the upload form cannot change the job.
        """
        now = time.time()
        source_key = self.objects.source_key(job_id)
        job = Job(
            job_id=job_id,
            status=jobs.PENDING,
            created_at=now,
            updated_at=now,
            text=submission.text,
            options=submission.options.to_dict(),
            source_key=source_key,
            source_bytes=len(submission.image or b""),
            message="Waiting in its batch." if batch_id else "Waiting for a worker.",
            # A batch's jobs send no webhook of their own: the batch sends one.
            callback_url=None if batch_id else submission.callback_url,
            tenant_id=tenant.tenant_id,
            cost_ms=round(cost.total_ms, 1),
            queue=queue,
            idempotency_key=idempotency_key,
            preset=submission.preset or "",
            batch_id=batch_id,
        )
        if submission.image is not None:
            self.objects.put(
                source_key,
                submission.image,
                INPUT_FORMATS[submission.image_format].mime,
                Metadata={"job-id": job_id},
            )
        else:
            assert submission.upload_id is not None
            self._take_upload(submission.upload_id, tenant, job_id, source_key)
        try:
            self.store.create(job)
        except ServiceError:
            self.undo_job(job, record=False)
            raise
        if batch_id:
            return job
        try:
            self.queue.enqueue(job_id, queue)
        except ServiceError:
            self.undo_job(job, record=True)
            raise
        log.info("job submitted", extra={"job_id": job_id, "tenant": tenant.tenant_id})
        emit_metrics(self.settings, {"JobsSubmitted": (1, "Count")}, job_id=job_id)
        return job

    def _take_upload(self, upload_id: str, tenant: Tenant, job_id: str, source_key: str) -> None:
        if not self.uploads.claim(upload_id, tenant.tenant_id, job_id):
            raise UploadNotFound()
        incoming = self.objects.incoming_key(upload_id)
        try:
            self.objects.copy(incoming, source_key)
        except SourceMissing:
            self.uploads.release(upload_id)
            raise UploadNotFound() from None
        except ServiceError:
            self.uploads.release(upload_id)
            raise
        try:
            self.objects.delete(incoming)
        except ServiceError:
            # The bucket's lifecycle rule expires what is left under incoming/.
            log.warning("could not remove a claimed upload", extra={"job_id": job_id})

    def undo_job(self, job: Job, record: bool) -> None:
        """Best-effort removal of what a failed submit already made."""
        try:
            if record:
                self.store.delete(job.job_id)
        except ServiceError:
            log.warning(
                "could not remove the record of a failed submit", extra={"job_id": job.job_id}
            )
        try:
            self.objects.delete(job.source_key)
        except ServiceError:
            # The bucket's lifecycle rule expires stray sources.
            log.warning(
                "could not remove the source of a failed submit", extra={"job_id": job.job_id}
            )

    def get(self, job_id: str, tenant: Tenant) -> Job:
        """The tenant's job; ``JobNotFound`` for an unknown id and for another tenant's."""
        job = self.store.get(check_job_id(job_id))
        if job is None or (job.tenant_id or ANONYMOUS) != tenant.tenant_id:
            raise JobNotFound()
        return job

    def status(self, job_id: str, tenant: Tenant) -> dict[str, Any]:
        return status_body(self.get(job_id, tenant), self.objects, self.settings.result_url_ttl)

    def list_jobs(self, tenant: Tenant, query: Mapping[str, str] | None) -> dict[str, Any]:
        """``GET /api/jobs``: the tenant's jobs, newest first, a page at a time.

        ``query``: ``status`` (one of the statuses), ``limit`` (1-100, default 20) and
        ``cursor`` (a previous page's ``next_cursor``); anything else is refused.
        """
        query = dict(query or {})
        unknown = sorted(set(query) - {"status", "limit", "cursor"})
        if unknown:
            raise InvalidRequest(f"Unknown query parameter {unknown[0]!r}.", field=unknown[0])
        status = query.get("status")
        if status is not None and status not in jobs.STATUSES:
            raise InvalidRequest(
                f"status must be one of {', '.join(jobs.STATUSES)}.", field="status"
            )
        raw_limit = query.get("limit", str(LIST_DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIST_MAX_LIMIT:
            raise InvalidRequest(
                f"limit must be a whole number from 1 to {LIST_MAX_LIMIT}.", field="limit"
            )
        found, next_cursor = self.store.list_for(
            tenant.tenant_id, status, query.get("cursor"), int(raw_limit)
        )
        return {"jobs": [summary_body(job) for job in found], "next_cursor": next_cursor}

    def delete(self, job_id: str, tenant: Tenant, batch_hooks: bool = True) -> None:
        """Remove the job's source, outputs and record, and give back what it held: its
        place in flight (once its worker has stopped) and its Idempotency-Key. Old output
        links stop working; a worker still running it stops at its next stage boundary
        and removes what it wrote. ``batch_hooks``: count the job as ended in its batch and
        let the tenant's waiting batch jobs take the freed place now (a batch's DELETE
        does both once, for all its jobs)."""
        job = self.get(job_id, tenant)
        self.objects.delete(job.source_key)
        self.objects.delete_prefix(self.objects.result_prefix(job.job_id))
        self.store.delete(job.job_id)
        # A worker that holds the job's lease is running it (or about to): it finds the
        # record gone at its next stage boundary, stops, and gives the place in flight
        # back itself, so a tenant never runs more jobs than its limit. The lease is read
        # after the record is gone: a worker that takes it later cannot start the job.
        if self.store.lease_holder(job.job_id) is None:
            self.quotas.release_job(tenant.tenant_id, job.job_id)
        if job.idempotency_key:
            self.idempotency.forget(job.idempotency_key)
        if batch_hooks:
            if job.batch_id:
                # Never queued if it still waited; either way it counts as ended.
                self.feeder.batches.remove_waiting(job.batch_id, job.job_id)
                self.feeder.job_ended(job.batch_id, job.job_id)
            # Its place in flight may be free: a waiting batch job can have it.
            self.feeder.feed_tenant(tenant.tenant_id)
        log.info("job deleted", extra={"job_id": job_id})

    def limits(self, tenant: Tenant) -> dict[str, Any]:
        """The tenant's limits and what it uses of them now (``GET /api/limits``)."""
        usage = {
            **self.quotas.usage(tenant.tenant_id),
            "presets": self.presets.count(tenant.tenant_id),
        }
        return {
            **describe(tenant, self.settings, usage),
            "max_job_work_seconds": self.settings.max_job_work_ms / 1000,
        }

    # -- presets ---------------------------------------------------------------------

    def put_preset(self, tenant: Tenant, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /api/presets/{name}``: ``{"options": {...}}`` creates or replaces it.

        What ``GET`` gives back can be sent again (its ``name`` and ``updated_at`` are
        ignored: the path names the preset), and a bare options document is taken as the
        options.
        """
        check_name(name)
        if "options" not in body:
            body = {"options": body}
        unknown = sorted(set(body) - {"options", "name", "updated_at"})
        if unknown:
            raise InvalidRequest(
                f'Unknown field {unknown[0]!r}; a preset is {{"options": {{...}}}}.',
                field=unknown[0],
            )
        if "name" in body:
            check_name(body["name"])
        if not isinstance(body.get("updated_at", ""), str):
            raise InvalidRequest("updated_at is a string (it is ignored).", field="updated_at")
        if not isinstance(body["options"], dict):
            raise InvalidOptions("options must be a JSON object", field="options")
        limit = tenant.limits_from(self.settings).presets
        return _preset_body(self.presets.put(tenant.tenant_id, name, body["options"], limit))

    def get_preset(self, tenant: Tenant, name: str) -> dict[str, Any]:
        return _preset_body(self.presets.require(tenant.tenant_id, name))

    def list_presets(self, tenant: Tenant) -> dict[str, Any]:
        return {"presets": [_preset_body(p) for p in self.presets.all(tenant.tenant_id)]}

    def delete_preset(self, tenant: Tenant, name: str) -> None:
        self.presets.delete(tenant.tenant_id, name)

    def health(self) -> dict[str, str]:
        """Each backing service's state: ``ok`` or the error code it gave."""
        checks = {}
        for name, ping in (("redis", self.store.ping), ("s3", self.objects.ping)):
            try:
                ping()
                checks[name] = "ok"
            except ServiceError as exc:
                checks[name] = exc.code
        return checks


def _preset_body(preset: Preset) -> dict[str, Any]:
    """A preset as the API answers it: ``{name, options, updated_at}``."""
    return {**preset.to_dict(), "updated_at": iso_time(preset.updated_at)}
