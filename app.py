"""The HTTP API (Chalice): routes only; the rules live in ``chalicelib.service``."""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice import Chalice, Rate, Response

from chalicelib.errors import (
    InvalidRequest,
    MissingField,
    ServiceError,
    Unauthorized,
    UploadTooLarge,
)
from chalicelib.settings import Settings

app = Chalice(app_name="media-jobs")
app.api.binary_types.append("multipart/form-data")
log = logging.getLogger("media-jobs.api")

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
STATIC = Path(__file__).resolve().parent / "chalicelib" / "static"


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


@functools.cache
def _service() -> Any:
    """The job service, built on first use and reused by later invocations."""
    from chalicelib.jobstore import make_job_store
    from chalicelib.observability import configure_logging
    from chalicelib.queue import CeleryTaskQueue
    from chalicelib.service import JobService
    from chalicelib.storage import S3ObjectStore

    settings = _settings()
    configure_logging(settings)
    return JobService(
        settings,
        make_job_store(settings),
        S3ObjectStore.from_settings(settings),
        CeleryTaskQueue(settings),
    )


def error_response(error: ServiceError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body={"error": error.to_dict()},
        status_code=error.status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def json_response(body: Any, status_code: int = 200, **headers: str) -> Response:
    return Response(
        body=body,
        status_code=status_code,
        headers={"Content-Type": JSON, "Cache-Control": "no-store", **headers},
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
# with {"Code", "Message"}; those are rewritten into the service's error shape.
_CHALICE_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "BadRequest": "invalid_request",
    "BadRequestError": "invalid_request",
    "InternalServerError": "internal_error",
}
_OPEN_PATHS = ("/api/health",)


@app.middleware("http")
def api_keys_and_uniform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    keys = _settings().api_key_list
    path = getattr(event, "path", "") or ""
    if keys and path.startswith("/api/") and path not in _OPEN_PATHS:
        given = event.headers.get("x-api-key") or ""
        # Compare with every key in constant time, so timing tells nothing.
        if not any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
            return error_response(Unauthorized())
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = _CHALICE_CODES.get(body["Code"], "invalid_request")
        response.body = {"error": {"code": code, "message": str(body.get("Message", ""))}}
        response.headers["Content-Type"] = JSON
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


def _json_body(max_bytes: int) -> dict[str, Any]:
    try:
        body = json.loads(_request_body(max_bytes) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _content_type() -> str:
    return (app.current_request.headers.get("content-type") or "").split(";")[0].strip().lower()


@app.route("/api/process", methods=["POST"], content_types=[MULTIPART, JSON, FORM])
@json_errors
def process() -> Response:
    """Accept an image and a text (multipart, or JSON naming an upload); 202 with the job."""
    from chalicelib.uploads import parse_multipart, parse_upload_request, require

    service = _service()
    settings = service.settings
    if _content_type() == FORM:
        # An HTML form or `curl -d` without a file: say what is missing.
        raise MissingField(
            "The field 'image' is required; send multipart/form-data.", field="image"
        )
    if _content_type() == MULTIPART:
        form = parse_multipart(
            _request_body(settings.max_upload_bytes),
            app.current_request.headers.get("content-type", ""),
            settings.max_upload_bytes,
        )
        require(form, "image")
        require(form, "text")
        if "image" not in form.files:
            raise InvalidRequest("The image field must be a file part.", field="image")
        submission = service.validate(
            form.files["image"].data,
            form.text("text") or "",
            form.text("options"),
            form.text("callback_url"),
        )
    else:
        request = parse_upload_request(_json_body(64 * 1024))
        submission = service.validate_upload(**request)
    headers = app.current_request.headers
    accepted = service.submit(
        submission,
        idempotency_key=headers.get("idempotency-key"),
        scope=headers.get("x-api-key") or "",
    )
    status_url = f"/api/status/{accepted.job_id}"
    return json_response(
        {"job_id": accepted.job_id, "status": accepted.status, "status_url": status_url},
        202,
        Location=status_url,
        **({} if accepted.created else {"Idempotent-Replayed": "true"}),
    )


@app.route("/api/uploads", methods=["POST"], content_types=[JSON])
@json_errors
def create_upload() -> Response:
    """A presigned S3 POST for a large image; then POST /api/process with its upload_id."""
    body = _json_body(16 * 1024)
    upload = _service().create_upload(
        body.get("filename"), body.get("content_type"), body.get("size")
    )
    return json_response(upload, 201)


@app.route("/api/status/{job_id}", methods=["GET"])
@json_errors
def status(job_id: str) -> Response:
    """The job's status, progress, result (with presigned links) or error."""
    return json_response(_service().status(job_id))


@app.route("/api/jobs/{job_id}", methods=["DELETE"])
@json_errors
def delete_job(job_id: str) -> Response:
    """Remove the job's source, outputs and record."""
    _service().delete(job_id)
    return Response(body="", status_code=204)


@app.route("/api/health", methods=["GET"])
@json_errors
def health() -> Response:
    """200 when Redis and S3 answer, else 503 naming the failing check."""
    checks = _service().health()
    ok = all(value == "ok" for value in checks.values())
    return json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
    )


@app.route("/api/openapi.json", methods=["GET"])
@json_errors
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    from chalicelib.openapi import openapi_document

    return json_response(openapi_document(), **{"Cache-Control": "max-age=300"})


@app.route("/", methods=["GET"])
@json_errors
def index() -> Response:
    """A small page to try the service in a browser."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return Response(
        body=page,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            # The page's own inline script and style only; images come from S3 links.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: http: "
            "https:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
            "connect-src 'self' http: https:",
        },
    )


@app.schedule(Rate(1, unit=Rate.MINUTES))
def watch_queue(event: Any) -> dict[str, Any]:
    """Every minute: publish the queue metrics (autoscaling, alarms) and requeue stuck jobs."""
    from chalicelib.monitoring import queue_figures
    from chalicelib.observability import emit_metrics
    from chalicelib.reconcile import reconcile_stuck_jobs

    service = _service()
    figures = queue_figures(service.store, service.queue)
    emit_metrics(
        service.settings,
        {
            "QueueLength": (figures["QueueLength"], "Count"),
            "QueueOldestJobAge": (figures["QueueOldestJobAge"], "Seconds"),
            "DeadLetters": (figures["DeadLetters"], "Count"),
        },
    )
    report = reconcile_stuck_jobs(service.store, service.queue, service.settings)
    return {**figures, "requeued": len(report.requeued)}
