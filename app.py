"""The HTTP API (Chalice): routes only; the rules live in ``chalicelib.api.service``."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalice import Chalice, CORSConfig, Rate, Response
from chalice.app import Request

from chalicelib.core.errors import (
    InvalidRequest,
    MissingField,
    ServiceError,
    UploadTooLarge,
)
from chalicelib.core.settings import Settings
from chalicelib.core.version import VERSION

if TYPE_CHECKING:
    from chalicelib.api.batches import BatchService
    from chalicelib.api.service import JobService
    from chalicelib.backends import Backends
    from chalicelib.tenancy.tenants import Tenant

app = Chalice(app_name="media-jobs")
app.api.binary_types.append("multipart/form-data")
log = logging.getLogger("media-jobs.api")
# Headers a browser on another origin may send and read (CORS).
CORS_ALLOW_HEADERS = ["X-Api-Key", "Idempotency-Key", "Content-Type"]
CORS_EXPOSE_HEADERS = ["Location", "Retry-After", "Idempotent-Replayed"]


def _cors_config() -> CORSConfig | None:
    """CORS for ``CORS_ALLOW_ORIGINS``, or none. Read at import, before the routes: API
    Gateway answers preflights itself, from what ``chalice package`` saw (one origin)."""
    origins = Settings.from_env().cors_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origin=origins[0],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=600,
    )


app.api.cors = _cors_config() or False

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
# JSON bodies are small; a multipart body may carry an image (MAX_UPLOAD_BYTES).
PROCESS_JSON_LIMIT = 64 * 1024
UPLOAD_REQUEST_LIMIT = 16 * 1024
STATIC = Path(__file__).resolve().parent / "chalicelib" / "api" / "static"


@functools.lru_cache(maxsize=8)
def _static_text(name: str) -> str:
    """A file of the package's static pages, read once per process (ReDoc's is 1 MB)."""
    return (STATIC / name).read_text(encoding="utf-8")


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


# Concurrent first requests (the local server answers each in a thread of its own) build
# the clients one at a time: boto3's default session is not safe to use from several
# threads at once while it makes clients.
_BUILDING = threading.Lock()


@functools.cache
def _backends() -> Backends:
    """The clients of this process, built on first use and reused by later invocations."""
    from chalicelib.backends import Backends
    from chalicelib.core.telemetry import configure_logging

    with _BUILDING:
        settings = _settings()
        configure_logging(settings)
        return Backends.from_settings(settings)


@functools.cache
def _service() -> JobService:
    """The job service over this process's clients."""
    from chalicelib.api.service import JobService

    return JobService.from_backends(_backends())


@functools.cache
def _batch_service() -> BatchService:
    """The batch service over this process's clients."""
    from chalicelib.api.batches import BatchService

    return BatchService.from_backends(_backends(), _service())


def error_response(error: ServiceError) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": JSON}
    retry_after = error.details.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(body={"error": error.to_dict()}, status_code=error.status, headers=headers)


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
# Open without a key: the health check (load balancers) and the API's description.
_OPEN_PATHS = ("/api/health", "/api/openapi.json")
# The tenant the current request acts for, set by the middleware (one request per
# thread under the local server, one per invocation in Lambda).
_current_tenant: ContextVar[Tenant | None] = ContextVar("tenant", default=None)


@app.middleware("http")
def tenants_limits_and_uniform_errors(
    event: Any, get_response: Callable[[Any], Response]
) -> Response:
    """Find the request's tenant from its key and count it against the tenant's rate;
    rewrite Chalice's own error answers into the service's error shape."""
    path = getattr(event, "path", "") or ""
    if path.startswith("/api/") and path not in _OPEN_PATHS:
        try:
            tenant = _authenticate(event.headers.get("x-api-key"))
        except ServiceError as exc:
            refused = error_response(exc)
            _allow_origin(event, refused)
            return refused
        token = _current_tenant.set(tenant)
        try:
            response = get_response(event)
        finally:
            _current_tenant.reset(token)
    else:
        response = get_response(event)
    _allow_origin(event, response)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = _CHALICE_CODES.get(body["Code"], "invalid_request")
        response.body = {"error": {"code": code, "message": str(body.get("Message", ""))}}
        response.headers["Content-Type"] = JSON
    return response


def _allow_origin(event: Any, response: Response) -> None:
    """Name the request's origin when ``CORS_ALLOW_ORIGINS`` lists it (Chalice names the
    first one only), on every answer, errors included."""
    origin = (getattr(event, "headers", None) or {}).get("origin")
    if not app.api.cors or not origin or origin not in _settings().cors_origins:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"


def check_key_before_body(path: str, api_key: str | None) -> None:
    """Refuse a request for a keyed route whose key is wrong before its body is read.

    The local server calls this before it reads a body (in the cloud API Gateway has
    read it by then): without a valid key nobody makes it read 10 MB. The request is
    not counted here; the middleware counts it once the body is in.
    """
    path = path.split("?", 1)[0]
    if path.startswith("/api/") and path not in _OPEN_PATHS:
        _backends().tenants.authenticate(api_key)


def _authenticate(api_key: str | None) -> Tenant:
    backends = _backends()
    tenant = backends.tenants.authenticate(api_key)
    backends.quotas.take_request(tenant.tenant_id, tenant.limits_from(backends.settings))
    return tenant


def _tenant() -> Tenant:
    tenant = _current_tenant.get()
    assert tenant is not None, "the middleware authenticates every /api/ route"
    return tenant


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while a request is being handled"
    return request


def _request_body(max_bytes: int) -> bytes:
    request = _request()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge.body_over(max_bytes)
    raw = request.raw_body or b""
    body = raw if isinstance(raw, bytes) else raw.encode()
    if len(body) > max_bytes:
        raise UploadTooLarge.body_over(max_bytes)
    return body


def _json_body(max_bytes: int) -> dict[str, Any]:
    from chalicelib.core.parsing import parse_json

    body = parse_json(_request_body(max_bytes) or b"null")
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _content_type() -> str:
    return (_request().headers.get("content-type") or "").split(";")[0].strip().lower()


@app.route("/api/process", methods=["POST"], content_types=[MULTIPART, JSON, FORM])
@json_errors
def process() -> Response:
    """Accept an image and a text (multipart, or JSON naming an upload); 202 with the job."""
    from chalicelib.api.intake import parse_form_submission, parse_multipart, parse_upload_request

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
            _request().headers.get("content-type", ""),
            settings.max_upload_bytes,
        )
        submission = service.validate(**parse_form_submission(form), tenant=_tenant())
    else:
        request = parse_upload_request(_json_body(PROCESS_JSON_LIMIT))
        submission = service.validate_upload(_tenant(), **request)
    headers = _request().headers
    accepted = service.submit(submission, _tenant(), idempotency_key=headers.get("idempotency-key"))
    status_url = f"/api/status/{accepted.job_id}"
    return json_response(
        {"job_id": accepted.job_id, "status": accepted.status, "status_url": status_url},
        202,
        Location=status_url,
        **({} if accepted.created else {"Idempotent-Replayed": "true"}),
    )


@app.route("/api/batches", methods=["POST"], content_types=[MULTIPART, JSON, FORM])
@json_errors
def submit_batch() -> Response:
    """Accept many images as one batch (multipart files, or JSON items naming uploads);
    202 with the batch and its jobs."""
    from chalicelib.api.intake import (
        MAX_BATCH_FILES,
        parse_batch_form,
        parse_batch_request,
        parse_multipart,
    )

    batches = _batch_service()
    settings = batches.jobs.settings
    tenant = _tenant()
    key = _request().headers.get("idempotency-key")
    if _content_type() == FORM:
        raise MissingField(
            "The field 'image' is required; send multipart/form-data.", field="image"
        )
    if _content_type() == MULTIPART:
        form = parse_batch_form(
            parse_multipart(
                _request_body(settings.max_upload_bytes),
                _request().headers.get("content-type", ""),
                settings.max_upload_bytes,
                max_parts=MAX_BATCH_FILES + 4,
                repeated=("image",),
            )
        )
        accepted = batches.submit_files(tenant, **form, idempotency_key=key)
    else:
        request = parse_batch_request(_json_body(settings.max_upload_bytes))
        accepted = batches.submit_uploads(tenant, **request, idempotency_key=key)
    status_url = f"/api/batches/{accepted.batch_id}"
    return json_response(
        {
            "batch_id": accepted.batch_id,
            "status": accepted.status,
            "status_url": status_url,
            "jobs": accepted.job_ids,
        },
        202,
        Location=status_url,
        **({} if accepted.created else {"Idempotent-Replayed": "true"}),
    )


@app.route("/api/batches/{batch_id}", methods=["GET"])
@json_errors
def batch_status(batch_id: str) -> Response:
    """The batch: its status, counts by status, and a page of its jobs."""
    return json_response(_batch_service().status(batch_id, _tenant(), _request().query_params))


@app.route("/api/batches/{batch_id}", methods=["DELETE"])
@json_errors
def delete_batch(batch_id: str) -> Response:
    """Remove the batch and every job of it."""
    _batch_service().delete(batch_id, _tenant())
    return Response(body="", status_code=204)


@app.route("/api/uploads", methods=["POST"], content_types=[JSON])
@json_errors
def create_upload() -> Response:
    """A presigned S3 POST for a large image; then POST /api/process with its upload_id."""
    from chalicelib.api.intake import parse_presign_request

    request = parse_presign_request(_json_body(UPLOAD_REQUEST_LIMIT))
    upload = _service().create_upload(_tenant(), **request)
    return json_response(upload, 201)


@app.route("/api/status/{job_id}", methods=["GET"])
@json_errors
def status(job_id: str) -> Response:
    """The job's status, progress, result (with presigned links) or error."""
    return json_response(_service().status(job_id, _tenant()))


@app.route("/api/jobs", methods=["GET"])
@json_errors
def list_jobs() -> Response:
    """The caller's jobs, newest first, a page at a time (``?status=&limit=&cursor=``)."""
    return json_response(_service().list_jobs(_tenant(), _request().query_params))


@app.route("/api/jobs/{job_id}", methods=["DELETE"])
@json_errors
def delete_job(job_id: str) -> Response:
    """Remove the job's source, outputs and record."""
    _service().delete(job_id, _tenant())
    return Response(body="", status_code=204)


@app.route("/api/presets", methods=["GET"])
@json_errors
def list_presets() -> Response:
    """The caller's presets, by name."""
    return json_response(_service().list_presets(_tenant()))


@app.route("/api/presets/{name}", methods=["PUT"], content_types=[JSON])
@json_errors
def put_preset(name: str) -> Response:
    """Create or replace the preset ``name``: ``{"options": {...}}``."""
    return json_response(_service().put_preset(_tenant(), name, _json_body(PROCESS_JSON_LIMIT)))


@app.route("/api/presets/{name}", methods=["GET"])
@json_errors
def get_preset(name: str) -> Response:
    """One preset of the caller's."""
    return json_response(_service().get_preset(_tenant(), name))


@app.route("/api/presets/{name}", methods=["DELETE"])
@json_errors
def delete_preset(name: str) -> Response:
    """Remove the preset; jobs made with it keep their options."""
    _service().delete_preset(_tenant(), name)
    return Response(body="", status_code=204)


@app.route("/api/limits", methods=["GET"])
@json_errors
def limits() -> Response:
    """The caller's tenant: its limits and what it uses of them now."""
    return json_response(_service().limits(_tenant()))


@app.route("/api/health", methods=["GET"])
@json_errors
def health() -> Response:
    """200 when Redis and S3 answer, else 503 naming the failing check; with the imaging
    engines the workers reported (``chalicelib/broker/workers.py``)."""
    checks = _service().health()
    ok = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "version": VERSION}
    body["checks"] = checks
    if checks.get("redis") == "ok":
        # Redis gone away since the check: the answer stands without the workers' facts.
        with contextlib.suppress(ServiceError):
            # Library versions tell an attacker which advisories apply: named to a caller
            # with a valid key (or where requests need none), not to anyone who asks.
            backends = _backends()
            request = app.current_request
            backends.tenants.authenticate(request.headers.get("x-api-key") if request else None)
            body["workers"] = {"imaging_engines": backends.workers.engines()}
    return json_response(body, 200 if ok else 503)


@app.route("/api/openapi.json", methods=["GET"])
@json_errors
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    from chalicelib.api.openapi import openapi_document

    response = json_response(openapi_document(_settings(), _server_url()))
    response.headers["Cache-Control"] = "max-age=300"
    return response


def _server_url() -> str:
    """Where this API answers, as the client reached it: its origin, and API Gateway's
    stage when reached at the execute-api address (its paths start with the stage)."""
    request = _request()
    host = request.headers.get("host", "")
    if not host or any(c in host for c in "/\\ @?#"):
        return ""
    proto = request.headers.get("x-forwarded-proto", "http").split(",")[0].strip()
    proto = proto if proto in ("http", "https") else "http"
    stage = request.context.get("stage") if host.endswith(".amazonaws.com") else None
    return f"{proto}://{host}" + (f"/{stage}" if stage else "")


@app.route("/", methods=["GET"])
@json_errors
def index() -> Response:
    """A small page to try the service in a browser."""
    page = _static_text("index.html")
    # The text box allows what the API allows.
    page = page.replace("__MAX_TEXT_CHARS__", str(_settings().max_text_chars))
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


@app.route("/docs", methods=["GET"])
@json_errors
def docs() -> Response:
    """The API's reference, readable: ReDoc over the OpenAPI document."""
    return Response(
        body=_static_text("docs.html"),
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "max-age=300",
            # ReDoc, vendored and served from here; it styles inline and runs a worker.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
            "worker-src 'self' blob:; connect-src 'self'",
        },
    )


@app.route("/docs/redoc.standalone.js", methods=["GET"])
@json_errors
def docs_script() -> Response:
    """ReDoc's script (static/redoc/, from the npm package redoc)."""
    return Response(
        body=_static_text("redoc/redoc.standalone.js"),
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "max-age=86400",
        },
    )


@app.schedule(Rate(1, unit=Rate.MINUTES))
def watch_queue(event: Any) -> dict[str, Any]:
    """Every minute: publish the queue metrics (autoscaling, alarms) and requeue stuck jobs."""
    from chalicelib.broker.health import queue_figures
    from chalicelib.core.telemetry import emit_metrics
    from chalicelib.jobs.batch_feed import reconcile_batches
    from chalicelib.jobs.reconcile import reconcile_stuck_jobs

    backends = _backends()
    figures = queue_figures(backends.store, backends.inspector, backends.dead_letters)
    emit_metrics(
        backends.settings,
        {
            "QueueLength": (figures["QueueLength"], "Count"),
            "QueueOldestJobAge": (figures["QueueOldestJobAge"], "Seconds"),
            "DeadLetters": (figures["DeadLetters"], "Count"),
        },
    )
    report = reconcile_stuck_jobs(
        backends.store, backends.queue, backends.inspector, backends.settings, backends.batches
    )
    batches = reconcile_batches(backends.batch_feeder())
    return {**figures, "requeued": len(report.requeued), "batch_jobs_fed": len(batches.queued)}
