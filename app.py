"""The HTTP API (Chalice): routes only; the rules live in ``chalicelib.service``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from chalicelib.errors import InvalidRequest, ServiceError, UploadTooLarge
from chalicelib.settings import Settings

app = Chalice(app_name="media-jobs")
app.api.binary_types.append("multipart/form-data")
log = logging.getLogger("media-jobs.api")


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


@functools.cache
def _service() -> Any:
    """The job service, built on first use and reused by later invocations."""
    from chalicelib.jobstore import RedisJobStore, make_redis_client
    from chalicelib.queue import CeleryTaskQueue
    from chalicelib.service import JobService
    from chalicelib.storage import S3ObjectStore

    settings = _settings()
    return JobService(
        settings,
        RedisJobStore(make_redis_client(settings), settings.job_ttl_seconds),
        S3ObjectStore.from_settings(settings),
        CeleryTaskQueue(settings),
    )


def error_response(error: ServiceError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body={"error": error.to_dict()},
        status_code=error.status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer every failure with the JSON error shape; never a trace, even in debug."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ServiceError as exc:
            if exc.status >= 500:
                log.warning("request failed: %s", exc.code, exc_info=True)
            return error_response(exc)
        except Exception:
            log.exception("unhandled error")
            return error_response(ServiceError())

    return wrapper


# Chalice answers some requests itself (unsupported content type, wrong method)
# with {"Code", "Message"}; rewrite those into the service's error shape.
_CHALICE_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "BadRequest": "invalid_request",
    "BadRequestError": "invalid_request",
    "InternalServerError": "internal_error",
}


@app.middleware("http")
def uniform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = _CHALICE_CODES.get(body["Code"], "invalid_request")
        response.body = {"error": {"code": code, "message": str(body.get("Message", ""))}}
        response.headers["Content-Type"] = "application/json"
    return response


def _request_body(max_bytes: int) -> bytes:
    request = app.current_request
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge(f"The request body is over {max_bytes} bytes.")
    body: bytes = request.raw_body or b""
    if len(body) > max_bytes:
        raise UploadTooLarge(f"The request body is over {max_bytes} bytes.")
    return body


@app.route("/api/process", methods=["POST"], content_types=["multipart/form-data"])
@json_errors
def process() -> Response:
    """Accept an image and a text; answer 202 with the job to follow."""
    from chalicelib.uploads import parse_multipart, require

    service = _service()
    settings = service.settings
    content_type = app.current_request.headers.get("content-type", "")
    form = parse_multipart(
        _request_body(settings.max_upload_bytes), content_type, settings.max_upload_bytes
    )
    require(form, "image")
    require(form, "text")
    if "image" not in form.files:
        raise InvalidRequest("The image field must be a file part.", field="image")
    submission = service.validate(
        form.files["image"].data, form.text("text") or "", form.text("options")
    )
    job = service.submit(submission)
    status_url = f"/api/status/{job.job_id}"
    return Response(
        body={"job_id": job.job_id, "status": job.status, "status_url": status_url},
        status_code=202,
        headers={"Location": status_url, "Content-Type": "application/json"},
    )


@app.route("/api/status/{job_id}", methods=["GET"])
@json_errors
def status(job_id: str) -> Response:
    """The job's status, progress, result (with presigned links) or error."""
    service = _service()
    body = service.status_body(service.get(job_id))
    return Response(
        body=body, headers={"Content-Type": "application/json", "Cache-Control": "no-store"}
    )


@app.route("/api/health", methods=["GET"])
@json_errors
def health() -> Response:
    """200 when Redis and S3 answer, else 503 naming the failing check."""
    checks = _service().health()
    ok = all(value == "ok" for value in checks.values())
    return Response(
        body={"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )
