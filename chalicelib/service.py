"""``JobService``: the business rules of creating, reading and following jobs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from chalicelib import jobs
from chalicelib.contract import check_job_id, new_job_id
from chalicelib.errors import JobNotFound, ServiceError
from chalicelib.jobs import Job
from chalicelib.jobstore import RedisJobStore
from chalicelib.options import parse_options
from chalicelib.queue import CeleryTaskQueue
from chalicelib.settings import Settings
from chalicelib.storage import S3ObjectStore
from chalicelib.uploads import sniff_image_format, validate_text

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heif": "image/heif",
    "avif": "image/avif",
}


@dataclass(frozen=True)
class Submission:
    """A validated request to process one image with one text."""

    image: bytes
    text: str
    options: dict[str, Any]
    image_format: str


class JobService:
    """Creates jobs (store, record, enqueue) and builds their status answers."""

    def __init__(
        self,
        settings: Settings,
        store: RedisJobStore,
        objects: S3ObjectStore,
        queue: CeleryTaskQueue,
    ):
        self.settings = settings
        self.store = store
        self.objects = objects
        self.queue = queue

    def validate(self, image: bytes, text: str, options: Any) -> Submission:
        """Check everything that is cheap to check before anything is stored."""
        text = validate_text(text, self.settings.max_text_chars)
        image_format = sniff_image_format(image)
        parsed = parse_options(options)
        return Submission(image=image, text=text, options=parsed, image_format=image_format)

    def submit(self, submission: Submission) -> Job:
        """Store the image, record the job, queue its task; all or nothing.

        The order matters: the record exists before the task can run, and a
        failure at any step undoes the earlier ones, so there is never a record
        without a task nor a task without a record.
        """
        job_id = new_job_id()
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
            source_bytes=len(submission.image),
            message="Waiting for a worker.",
        )
        self.objects.put(
            source_key,
            submission.image,
            CONTENT_TYPES[submission.image_format],
            Metadata={"job-id": job_id},
        )
        try:
            self.store.create(job)
        except ServiceError:
            self._undo(job_id, source_key, record=False)
            raise
        try:
            self.queue.enqueue(job_id)
        except ServiceError:
            self._undo(job_id, source_key, record=True)
            raise
        log.info("job submitted", extra={"job_id": job_id, "bytes": len(submission.image)})
        return job

    def _undo(self, job_id: str, source_key: str, record: bool) -> None:
        """Best-effort removal of what a failed submit already made."""
        try:
            if record:
                self.store.delete(job_id)
        except ServiceError:
            log.warning("could not remove the record of a failed submit", extra={"job_id": job_id})
        try:
            self.objects.delete(source_key)
        except ServiceError:
            # The bucket's lifecycle rule expires stray uploads.
            log.warning("could not remove the source of a failed submit", extra={"job_id": job_id})

    def get(self, job_id: str) -> Job:
        job = self.store.get(check_job_id(job_id))
        if job is None:
            raise JobNotFound()
        return job

    def status_body(self, job: Job) -> dict[str, Any]:
        """The status answer: the record, with presigned links for the outputs."""
        return {
            "job_id": job.job_id,
            "status": job.status,
            "message": job.message,
            "progress": job.progress,
            "created_at": _iso(job.created_at),
            "updated_at": _iso(job.updated_at),
            "result": self._result_with_links(job) if job.status == jobs.COMPLETED else None,
            "error": job.error,
        }

    def _result_with_links(self, job: Job) -> dict[str, Any] | None:
        result = job.result
        if result is None and job.result_key:
            result = self.objects.get_json(job.result_key)
        if result is None:
            return None
        ttl = self.settings.result_url_ttl
        outputs = []
        for output in result.get("outputs", []):
            linked = {k: v for k, v in output.items() if k != "key"}
            linked["url"] = self.objects.presigned_get(output["key"], ttl)
            outputs.append(linked)
        return {**result, "outputs": outputs, "links_expire_in": ttl}

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


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + (
        f".{int(timestamp % 1 * 1000):03d}Z"
    )
