"""A small Python client of the media-jobs HTTP API: submit (direct or presigned), status, delete.

Used by ``scripts.cli``; it knows the API's contract and nothing about terminals.
A webhook receiver checks what it gets with ``verify_webhook`` (from
``chalicelib.webhooks.signature``, re-exported here).

    ClientError                 any failure the caller should report and stop on
    ├── ApiUnreachable          no HTTP answer at all (refused, DNS, timeout)
    ├── ApiError                the API answered with its JSON error shape (or something else)
    └── StorageUploadError      S3 refused the presigned POST
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import requests

from chalicelib.media.formats import sniff

# Re-exported for webhook receivers.
from chalicelib.webhooks.signature import WebhookVerificationError as WebhookVerificationError
from chalicelib.webhooks.signature import verify_webhook as verify_webhook

# Files above this go straight to S3. API Gateway's 10 MB and Lambda's 6 MB (after
# base64) are the hard limits; the cloud stages set MAX_UPLOAD_BYTES to 4.5 MB,
# and 4 MB leaves room for the multipart framing and the text.
DIRECT_UPLOAD_LIMIT = 4_000_000

TERMINAL_STATUSES = ("completed", "failed")


class ClientError(Exception):
    """Base of the errors this client raises; ``str()`` is a message for a person."""


class ApiUnreachable(ClientError):
    """Nothing answered at the API's address."""


class ApiError(ClientError):
    """The API answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message} (HTTP {status})")

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """Read the API's ``{"error": {"code", "message"}}``; tolerate anything else."""
        try:
            error = response.json()["error"]
            return cls(response.status_code, str(error["code"]), str(error["message"]))
        except (ValueError, KeyError, TypeError):
            # API Gateway answers some failures itself (413, 403) with its own shape.
            text = " ".join(response.text.split())[:200] or response.reason or "no details"
            return cls(response.status_code, f"http_{response.status_code}", text)


class StorageUploadError(ClientError):
    """The presigned POST to S3 was refused (policy: size or type; or the link expired)."""


@dataclass(frozen=True)
class Submission:
    """What to submit: an image file, its text, and the optional extras."""

    image: Path
    text: str
    options: Any = None
    callback_url: str | None = None
    idempotency_key: str | None = None


def guess_content_type(path: Path) -> str:
    """The image's MIME type from its first bytes, else from its name (the API re-checks)."""
    with path.open("rb") as file:
        found = sniff(file.read(256))
    if found is not None:
        return found.mime
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class MediaJobsClient:
    """The API at ``base_url``; every method raises a ``ClientError`` subclass on failure."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = session or requests.Session()
        if api_key:
            self.http.headers["X-Api-Key"] = api_key

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _reaching(self, url: str) -> Iterator[None]:
        """Turn connection-level failures into one clear message naming the address."""
        try:
            yield
        except requests.exceptions.Timeout as exc:
            raise ApiUnreachable(f"No answer from {url} within {self.timeout:.0f} s.") from exc
        except requests.exceptions.ConnectionError as exc:
            raise ApiUnreachable(
                f"Cannot reach the API at {self.base_url}: is it running (make dev), "
                "and is --api (or MEDIA_API_URL) right?"
            ) from exc

    def _request(self, method: str, path: str, expect: int, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        with self._reaching(url):
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code != expect:
            raise ApiError.from_response(response)
        return response

    # -- the API ----------------------------------------------------------------------

    def submit_direct(self, submission: Submission) -> dict[str, Any]:
        """``POST /api/process`` as multipart/form-data with the image in the body."""
        data: dict[str, str] = {"text": submission.text}
        if submission.options is not None:
            data["options"] = json.dumps(submission.options)
        if submission.callback_url:
            data["callback_url"] = submission.callback_url
        content_type = guess_content_type(submission.image)
        with submission.image.open("rb") as image:
            response = self._request(
                "POST",
                "/api/process",
                202,
                data=data,
                files={"image": (submission.image.name, image, content_type)},
                headers=self._idempotency(submission),
            )
        return dict(response.json())

    def create_upload(self, path: Path) -> dict[str, Any]:
        """``POST /api/uploads``: a presigned S3 POST for this file."""
        body = {
            "filename": path.name,
            "content_type": guess_content_type(path),
            "size": path.stat().st_size,
        }
        return dict(self._request("POST", "/api/uploads", 201, json=body).json())

    def upload_to_storage(self, upload: dict[str, Any], path: Path) -> None:
        """POST the file to S3 with the presigned fields; ``file`` must be the last part."""
        url = upload["url"]
        content_type = upload["fields"].get("Content-Type", guess_content_type(path))
        # No API key here: S3 checks the signed policy, not our header.
        try:
            with path.open("rb") as image:
                response = requests.post(
                    url,
                    data=upload["fields"],
                    files={"file": (path.name, image, content_type)},
                    timeout=max(self.timeout, 120),
                )
        except requests.exceptions.RequestException as exc:
            raise ApiUnreachable(f"Cannot upload to storage at {url}: {exc}") from exc
        if response.status_code not in (200, 201, 204):
            raise StorageUploadError(
                f"Storage refused the upload (HTTP {response.status_code}): "
                + _s3_error_text(response.text)
            )

    def submit_uploaded(self, upload_id: str, submission: Submission) -> dict[str, Any]:
        """``POST /api/process`` as JSON naming an upload already in S3."""
        body: dict[str, Any] = {"upload_id": upload_id, "text": submission.text}
        if submission.options is not None:
            body["options"] = submission.options
        if submission.callback_url:
            body["callback_url"] = submission.callback_url
        response = self._request(
            "POST", "/api/process", 202, json=body, headers=self._idempotency(submission)
        )
        return dict(response.json())

    def submit_presigned(self, submission: Submission) -> dict[str, Any]:
        """The large-file path: ask for a presigned POST, upload to S3, then start the job."""
        upload = self.create_upload(submission.image)
        self.upload_to_storage(upload, submission.image)
        return self.submit_uploaded(upload["upload_id"], submission)

    def status(self, job_id: str) -> dict[str, Any]:
        """``GET /api/status/<job_id>``."""
        return dict(self._request("GET", f"/api/status/{job_id}", 200).json())

    def delete(self, job_id: str) -> None:
        """``DELETE /api/jobs/<job_id>``: the source, the outputs and the record."""
        self._request("DELETE", f"/api/jobs/{job_id}", 204)

    def wait(
        self,
        job_id: str,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.25,
        max_interval: float = 2.0,
    ) -> dict[str, Any]:
        """Poll until the job is completed or failed; ``TimeoutError`` after ``timeout`` s.

        The interval grows so a long job does not cost a request every quarter second.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            body = self.status(job_id)
            if on_update is not None:
                on_update(body)
            if body.get("status") in TERMINAL_STATUSES:
                return body
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Job {job_id} is still {body.get('status')} after {timeout:.0f} s."
                )
            time.sleep(interval)
            interval = min(interval * 1.5, max_interval)

    @staticmethod
    def _idempotency(submission: Submission) -> dict[str, str]:
        return {"Idempotency-Key": submission.idempotency_key} if submission.idempotency_key else {}


def _s3_error_text(body: str) -> str:
    """S3 answers errors in XML: ``<Error><Code>…</Code><Message>…</Message></Error>``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return " ".join(body.split())[:200] or "no details"
    code = root.findtext("Code") or "error"
    message = root.findtext("Message") or ""
    return f"{code}: {message}".strip(": ")
