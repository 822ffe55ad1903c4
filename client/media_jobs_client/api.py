"""The Python API of media-jobs: submit (direct or presigned), status, wait, list, download,
delete; batches (many images, one status, one webhook) and presets (named options).

It knows the API's contract and nothing about terminals (``media_jobs_client.cli``
draws the progress).

    ClientError                 any failure the caller should report and stop on
    ├── ApiUnreachable          no HTTP answer at all (refused, DNS, timeout)
    ├── ApiError                the API answered with its JSON error shape (or something else)
    └── StorageUploadError      S3 refused the presigned POST
"""

from __future__ import annotations

import builtins
import json
import mimetypes
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypedDict, cast
from xml.etree import ElementTree

import requests

# Files above this go straight to S3. API Gateway's 10 MB and Lambda's 6 MB (after
# base64) are the hard limits; the cloud stages set MAX_UPLOAD_BYTES to 4.5 MB,
# and 4 MB leaves room for the multipart framing and the text.
DIRECT_UPLOAD_LIMIT = 4_000_000
DEFAULT_API_URL = "http://127.0.0.1:8000"
# What `make dev` writes in the checkout it runs from (read when MEDIA_API_URL is unset).
DEV_STACK_FILE = Path(".local") / "dev.env"

Status = Literal["pending", "processing", "completed", "failed"]
TERMINAL_STATUSES = ("completed", "failed")
Upload = Literal["auto", "direct", "presigned"]


class JobAccepted(TypedDict):
    """``202`` of ``POST /api/process``."""

    job_id: str
    status: Status
    status_url: str


class JobError(TypedDict):
    code: str
    message: str


class Job(TypedDict):
    """``GET /api/status/<job_id>``: ``result`` is set once completed (see docs/API.md)."""

    job_id: str
    status: Status
    message: str
    progress: int
    created_at: str
    updated_at: str
    preset: str | None
    batch_id: str | None
    result: dict[str, Any] | None
    error: JobError | None


class JobSummary(TypedDict):
    """One job of ``GET /api/jobs``."""

    job_id: str
    status: Status
    progress: int
    created_at: str
    updated_at: str
    status_url: str


class JobPage(TypedDict):
    """A page of ``GET /api/jobs``, newest first; ``next_cursor`` is None on the last."""

    jobs: builtins.list[JobSummary]
    next_cursor: str | None


BatchStatus = Literal["pending", "processing", "completed", "failed", "partial"]
BATCH_ENDED = ("completed", "failed", "partial")
# A multipart batch holds at most this many images (the API's MAX_BATCH_FILES).
MAX_BATCH_FILES = 50


class BatchAccepted(TypedDict):
    """``202`` of ``POST /api/batches``: each job is a normal job at /api/status/<id>."""

    batch_id: str
    status: BatchStatus
    status_url: str
    jobs: builtins.list[str]


class Batch(TypedDict):
    """``GET /api/batches/<batch_id>``: counts cover every job, ``jobs`` one page."""

    batch_id: str
    status: BatchStatus
    total: int
    counts: dict[str, int]
    preset: str | None
    created_at: str
    status_url: str
    jobs: builtins.list[dict[str, Any]]
    next_cursor: str | None


class Preset(TypedDict):
    name: str
    options: dict[str, Any]
    updated_at: str


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


# How image files start; the API checks the bytes again, this only names the upload's type.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),
    (b"MM\x00+", "image/tiff"),
    (b"BM", "image/bmp"),
)
_BRANDS = {b"avif": "image/avif", b"avis": "image/avif"}
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


def guess_content_type(path: Path) -> str:
    """The image's MIME type from its first bytes, else from its name."""
    with path.open("rb") as file:
        head = file.read(64)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(len(head), 48) - 3, 4)]
        for brand in brands:
            if brand in _BRANDS:
                return _BRANDS[brand]
        if any(brand in _HEIC_BRANDS for brand in brands):
            return "image/heif"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a dotenv file (comments and blank lines skipped); {} if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def default_api_url(env: Mapping[str, str] | None = None) -> str:
    """``$MEDIA_API_URL``, else the running ``make dev``'s (``.local/dev.env``), else local."""
    env = os.environ if env is None else env
    return (
        env.get("MEDIA_API_URL")
        or read_env_file(DEV_STACK_FILE).get("MEDIA_API_URL")
        or DEFAULT_API_URL
    )


class Client:
    """The API at ``base_url``; every method raises a ``ClientError`` subclass on failure.

    ``base_url`` defaults to ``default_api_url()``, ``api_key`` to ``$MEDIA_API_KEY``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = (base_url or default_api_url()).rstrip("/")
        self.timeout = timeout
        self.http = session or requests.Session()
        api_key = api_key or os.environ.get("MEDIA_API_KEY")
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

    # -- submitting -------------------------------------------------------------------

    def submit(
        self,
        image: str | Path,
        text: str,
        options: Any = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        upload: Upload = "auto",
        on_presigned: Callable[[int, str | None], None] | None = None,
        preset: str | None = None,
    ) -> JobAccepted:
        """Submit ``image`` and ``text``; the job as accepted.

        ``upload="auto"`` sends files up to ``DIRECT_UPLOAD_LIMIT`` in the request and
        larger ones (or one the API refuses as too large) straight to S3 through a
        presigned POST; ``on_presigned(size, refused)`` is called before such an upload,
        ``refused`` the API's error code when it refused the file in the request.
        """
        path = Path(image)
        fields: dict[str, Any] = {"text": text}
        if options is not None:
            fields["options"] = options
        if preset:
            fields["preset"] = preset
        if callback_url:
            fields["callback_url"] = callback_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        size = path.stat().st_size
        refused: str | None = None
        if upload == "direct" or (upload == "auto" and size <= DIRECT_UPLOAD_LIMIT):
            try:
                return self._submit_direct(path, fields, headers)
            except ApiError as exc:
                # The server's MAX_UPLOAD_BYTES (or API Gateway) may be lower than our guess.
                if exc.status != 413 or exc.code == "text_too_long" or upload == "direct":
                    raise
                refused = exc.code
        if on_presigned is not None:
            on_presigned(size, refused)
        created = self.create_upload(path)
        self.upload_to_storage(created, path)
        body = {"upload_id": created["upload_id"], **fields}
        response = self._request("POST", "/api/process", 202, json=body, headers=headers)
        return cast(JobAccepted, response.json())

    def _submit_direct(
        self, path: Path, fields: dict[str, Any], headers: dict[str, str]
    ) -> JobAccepted:
        """``POST /api/process`` as multipart/form-data with the image in the body."""
        data = {k: json.dumps(v) if k == "options" else v for k, v in fields.items()}
        with path.open("rb") as image:
            response = self._request(
                "POST",
                "/api/process",
                202,
                data=data,
                files={"image": (path.name, image, guess_content_type(path))},
                headers=headers,
            )
        return cast(JobAccepted, response.json())

    def submit_batch(
        self,
        images: builtins.list[str | Path],
        text: str = "",
        options: Any = None,
        preset: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        on_upload: Callable[[int, int], None] | None = None,
    ) -> BatchAccepted:
        """Submit ``images`` as one batch sharing ``text``: in one multipart request
        when they fit (at most 50, together under ``DIRECT_UPLOAD_LIMIT``), else each
        straight to S3 through a presigned POST and the batch as JSON naming the uploads
        (``on_upload(done, total)`` after each)."""
        paths = [Path(image) for image in images]
        fields: dict[str, Any] = {}
        if options is not None:
            fields["options"] = options
        if preset:
            fields["preset"] = preset
        if callback_url:
            fields["callback_url"] = callback_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        total = sum(path.stat().st_size for path in paths)
        if len(paths) <= MAX_BATCH_FILES and total <= DIRECT_UPLOAD_LIMIT:
            data = {k: json.dumps(v) if k == "options" else v for k, v in fields.items()}
            data["text"] = text
            handles = [path.open("rb") for path in paths]
            try:
                files = [
                    ("image", (path.name, handle, guess_content_type(path)))
                    for path, handle in zip(paths, handles, strict=True)
                ]
                response = self._request(
                    "POST", "/api/batches", 202, data=data, files=files, headers=headers
                )
            finally:
                for handle in handles:
                    handle.close()
            return cast(BatchAccepted, response.json())
        items = []
        for done, path in enumerate(paths, 1):
            created = self.create_upload(path)
            self.upload_to_storage(created, path)
            items.append({"upload_id": created["upload_id"], "text": text})
            if on_upload is not None:
                on_upload(done, len(paths))
        body = {"items": items, **fields}
        response = self._request("POST", "/api/batches", 202, json=body, headers=headers)
        return cast(BatchAccepted, response.json())

    def batch(self, batch_id: str, cursor: str | None = None, limit: int = 100) -> Batch:
        """``GET /api/batches/<batch_id>``: its status, counts and a page of its jobs."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        path = f"/api/batches/{batch_id}"
        return cast(Batch, self._request("GET", path, 200, params=params).json())

    def batch_jobs(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """Every job of the batch (id, status, error), page after page."""
        cursor: str | None = None
        while True:
            page = self.batch(batch_id, cursor)
            yield from page["jobs"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def wait_batch(
        self,
        batch_id: str,
        on_update: Callable[[Batch], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.5,
        max_interval: float = 2.0,
    ) -> Batch:
        """Poll until every job of the batch has ended; ``TimeoutError`` after ``timeout``."""
        return _poll(
            lambda: self.batch(batch_id, limit=1),
            BATCH_ENDED,
            f"Batch {batch_id}",
            on_update,
            timeout,
            interval,
            max_interval,
        )

    def delete_batch(self, batch_id: str) -> None:
        """``DELETE /api/batches/<batch_id>``: every job of it, as ``delete`` does."""
        self._request("DELETE", f"/api/batches/{batch_id}", 204)

    # -- presets ----------------------------------------------------------------------

    def put_preset(self, name: str, options: Mapping[str, Any]) -> Preset:
        """``PUT /api/presets/<name>``: create or replace it."""
        body = {"options": dict(options)}
        return cast(Preset, self._request("PUT", f"/api/presets/{name}", 200, json=body).json())

    def preset(self, name: str) -> Preset:
        return cast(Preset, self._request("GET", f"/api/presets/{name}", 200).json())

    def presets(self) -> builtins.list[Preset]:
        return cast(
            builtins.list[Preset], self._request("GET", "/api/presets", 200).json()["presets"]
        )

    def delete_preset(self, name: str) -> None:
        self._request("DELETE", f"/api/presets/{name}", 204)

    def create_upload(self, path: Path) -> dict[str, Any]:
        """``POST /api/uploads``: a presigned S3 POST for this file."""
        body = {
            "filename": path.name,
            "content_type": guess_content_type(path),
            "size": path.stat().st_size,
        }
        return dict(self._request("POST", "/api/uploads", 201, json=body).json())

    def upload_to_storage(self, upload: Mapping[str, Any], path: Path) -> None:
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

    # -- following --------------------------------------------------------------------

    def status(self, job_id: str) -> Job:
        """``GET /api/status/<job_id>``."""
        return cast(Job, self._request("GET", f"/api/status/{job_id}", 200).json())

    def wait(
        self,
        job_id: str,
        on_update: Callable[[Job], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.25,
        max_interval: float = 2.0,
    ) -> Job:
        """Poll until the job is completed or failed; ``TimeoutError`` after ``timeout`` s.

        The interval grows so a long job does not cost a request every quarter second.
        """
        return _poll(
            lambda: self.status(job_id),
            TERMINAL_STATUSES,
            f"Job {job_id}",
            on_update,
            timeout,
            interval,
            max_interval,
        )

    def list(
        self, status: Status | None = None, limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        """``GET /api/jobs``: one page of the caller's jobs, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        return cast(JobPage, self._request("GET", "/api/jobs", 200, params=params).json())

    def iter_jobs(self, status: Status | None = None, page_size: int = 50) -> Iterator[JobSummary]:
        """Every job of the caller, newest first, page after page."""
        cursor: str | None = None
        while True:
            page = self.list(status=status, limit=page_size, cursor=cursor)
            yield from page["jobs"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def download(
        self, job_id: str, directory: str | Path = ".", names: builtins.list[str] | None = None
    ) -> builtins.list[Path]:
        """Save a completed job's outputs (all, or those ``names``) as
        ``<directory>/<job_id>-<name>.<ext>``; the paths written."""
        job = self.status(job_id)
        if job["status"] != "completed" or not job["result"]:
            raise ApiError(409, "job_not_completed", f"The job is {job['status']}.")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for output in job["result"]["outputs"]:
            if names and output["name"] not in names:
                continue
            path = folder / f"{job_id}-{output['name']}.{_extension(output['format'])}"
            with self._reaching(output["url"]):
                response = requests.get(output["url"], timeout=max(self.timeout, 120))
            if response.status_code != 200:
                raise StorageUploadError(
                    f"Storage refused {output['name']} (HTTP {response.status_code}): "
                    + _s3_error_text(response.text)
                )
            path.write_bytes(response.content)
            written.append(path)
        return written

    def delete(self, job_id: str) -> None:
        """``DELETE /api/jobs/<job_id>``: the source, the outputs and the record."""
        self._request("DELETE", f"/api/jobs/{job_id}", 204)


def _extension(fmt: str) -> str:
    return {"jpeg": "jpg"}.get(fmt, fmt)


def _s3_error_text(body: str) -> str:
    """S3 answers errors in XML: ``<Error><Code>…</Code><Message>…</Message></Error>``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return " ".join(body.split())[:200] or "no details"
    code = root.findtext("Code") or "error"
    message = root.findtext("Message") or ""
    return f"{code}: {message}".strip(": ")


def _poll(
    fetch: Callable[[], Any],
    ended: Any,
    what: str,
    on_update: Callable[[Any], None] | None,
    timeout: float | None,
    interval: float,
    max_interval: float,
) -> Any:
    """Fetch until the answer's status is in ``ended``; the interval grows by half each
    time up to ``max_interval``; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        body = fetch()
        if on_update is not None:
            on_update(body)
        if body.get("status") in ended:
            return body
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"{what} is still {body.get('status')} after {timeout:.0f} s.")
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)
