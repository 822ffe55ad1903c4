"""``JobService``: the business rules of creating, reading and deleting jobs."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import jobs
from chalicelib.callbacks import Resolver, check_callback_url, system_resolver
from chalicelib.contract import check_job_id, new_job_id
from chalicelib.errors import (
    InvalidRequest,
    JobNotFound,
    ServiceError,
    SourceMissing,
    UnsupportedImage,
    UploadAlreadyUsed,
    UploadNotFound,
    UploadTooLarge,
)
from chalicelib.formats import INPUT_FORMATS, UPLOAD_MIMES
from chalicelib.idempotency import IdempotencyKeys, fingerprint
from chalicelib.intake import sniff_image_format, validate_text
from chalicelib.jobs import Job
from chalicelib.jobstore import JobStore
from chalicelib.options import parse_options
from chalicelib.queue import TaskQueue
from chalicelib.settings import Settings
from chalicelib.status import status_body
from chalicelib.storage import ObjectStore
from chalicelib.telemetry import emit_metrics

if TYPE_CHECKING:
    from chalicelib.backends import Backends

log = logging.getLogger(__name__)

SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Submission:
    """A validated request: an image (bytes, or a direct upload by id) and a text."""

    text: str
    options: dict[str, Any]
    image_format: str
    image: bytes | None = None
    upload_id: str | None = None
    callback_url: str | None = None

    def fingerprint(self) -> str:
        image_id = self.upload_id or hashlib.sha256(self.image or b"").hexdigest()
        return fingerprint(image_id, self.text, self.options, self.callback_url)


@dataclass(frozen=True)
class Accepted:
    """The answer to a submit: the job, and whether this request created it."""

    job_id: str
    status: str
    created: bool


class JobService:
    """Creates jobs (store, record, enqueue), answers their status, deletes them."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        objects: ObjectStore,
        queue: TaskQueue,
        idempotency: IdempotencyKeys,
        resolver: Resolver = system_resolver,
    ):
        self.settings = settings
        self.resolver = resolver
        self.store = store
        self.objects = objects
        self.queue = queue
        self.idempotency = idempotency

    @classmethod
    def from_backends(cls, backends: Backends) -> JobService:
        return cls(
            backends.settings,
            backends.store,
            backends.objects,
            backends.queue,
            backends.idempotency,
        )

    # -- validation: everything cheap, before anything is stored -----------------

    def _common(self, text: str, options: Any, callback_url: str | None) -> tuple[str, Any, Any]:
        text = validate_text(text, self.settings.max_text_chars)
        parsed = parse_options(options)
        if callback_url is not None:
            callback_url = check_callback_url(
                callback_url, self.settings.callback_policy, self.resolver
            )
        return text, parsed, callback_url or None

    def validate(
        self, image: bytes, text: str, options: Any, callback_url: str | None = None
    ) -> Submission:
        """A multipart submission: the image bytes are in the request."""
        image_format = sniff_image_format(image)
        text, parsed, callback_url = self._common(text, options, callback_url)
        return Submission(
            text=text,
            options=parsed,
            image_format=image_format,
            image=image,
            callback_url=callback_url,
        )

    def validate_upload(
        self, upload_id: Any, text: str, options: Any, callback_url: str | None = None
    ) -> Submission:
        """A JSON submission naming a direct upload: check it exists, its size and type."""
        if not isinstance(upload_id, str):
            raise InvalidRequest("upload_id must be a string.", field="upload_id")
        try:
            check_job_id(upload_id)
        except ServiceError:
            raise UploadNotFound() from None
        text, parsed, callback_url = self._common(text, options, callback_url)
        key = self.objects.source_key(upload_id)
        try:
            head = self.objects.head(key)
        except SourceMissing:
            raise UploadNotFound() from None
        if head["bytes"] > self.settings.max_source_bytes:
            raise UploadTooLarge(f"The upload is over {self.settings.max_source_bytes} bytes.")
        image_format = sniff_image_format(self.objects.get_head_bytes(key, SNIFF_BYTES))
        return Submission(
            text=text,
            options=parsed,
            image_format=image_format,
            upload_id=upload_id,
            callback_url=callback_url,
        )

    # -- commands ------------------------------------------------------------------

    def create_upload(self, filename: Any, content_type: Any, size: Any) -> dict[str, Any]:
        """A presigned POST for one image of ``size`` bytes, straight to S3."""
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
        post = self.objects.presigned_post(
            self.objects.source_key(upload_id),
            content_type,
            limit,
            self.settings.upload_url_ttl,
        )
        return {
            "upload_id": upload_id,
            "url": post["url"],
            "fields": post["fields"],
            "expires_in": self.settings.upload_url_ttl,
            "max_bytes": limit,
        }

    def submit(
        self, submission: Submission, idempotency_key: str | None = None, scope: str = ""
    ) -> Accepted:
        """Create the job for ``submission``, or return the earlier one for a repeated key."""
        job_id = submission.upload_id or new_job_id()
        if idempotency_key is not None:
            earlier = self.idempotency.claim(
                scope, idempotency_key, submission.fingerprint(), job_id
            )
            if earlier is not None:
                job = self.store.get(earlier)
                return Accepted(earlier, job.status if job else jobs.PENDING, created=False)
        try:
            job = self._create(job_id, submission)
        except ServiceError:
            if idempotency_key is not None:
                self.idempotency.release(scope, idempotency_key)
            raise
        return Accepted(job.job_id, job.status, created=True)

    def _create(self, job_id: str, submission: Submission) -> Job:
        """Store the image, record the job, queue its task; all or nothing.

        The record exists before the task can run, and a failure at any step
        undoes the earlier ones: never a record without a task, nor a task
        without a record.
        """
        now = time.time()
        source_key = self.objects.source_key(job_id)
        job = Job(
            job_id=job_id,
            status=jobs.PENDING,
            created_at=now,
            updated_at=now,
            text=submission.text,
            options=submission.options,
            source_key=source_key,
            source_bytes=len(submission.image or b""),
            message="Waiting for a worker.",
            callback_url=submission.callback_url,
        )
        if submission.image is not None:
            self.objects.put(
                source_key,
                submission.image,
                INPUT_FORMATS[submission.image_format].mime,
                Metadata={"job-id": job_id},
            )
        try:
            created = self.store.create(job)
        except ServiceError:
            self._undo(job_id, source_key, record=False, source=submission.image is not None)
            raise
        if not created:
            raise UploadAlreadyUsed()
        try:
            self.queue.enqueue(job_id)
        except ServiceError:
            self._undo(job_id, source_key, record=True, source=submission.image is not None)
            raise
        log.info("job submitted", extra={"job_id": job_id})
        emit_metrics(self.settings, {"JobsSubmitted": (1, "Count")}, job_id=job_id)
        return job

    def _undo(self, job_id: str, source_key: str, record: bool, source: bool) -> None:
        """Best-effort removal of what a failed submit already made."""
        try:
            if record:
                self.store.delete(job_id)
        except ServiceError:
            log.warning("could not remove the record of a failed submit", extra={"job_id": job_id})
        try:
            if source:
                self.objects.delete(source_key)
        except ServiceError:
            # The bucket's lifecycle rule expires stray uploads.
            log.warning("could not remove the source of a failed submit", extra={"job_id": job_id})

    def get(self, job_id: str) -> Job:
        job = self.store.get(check_job_id(job_id))
        if job is None:
            raise JobNotFound()
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        return status_body(self.get(job_id), self.objects, self.settings.result_url_ttl)

    def delete(self, job_id: str) -> None:
        """Remove the job's source, outputs and record; its old links stop working."""
        job = self.get(job_id)
        self.objects.delete(job.source_key)
        self.objects.delete_prefix(self.objects.result_prefix(job.job_id))
        self.store.delete(job.job_id)
        log.info("job deleted", extra={"job_id": job_id})

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
