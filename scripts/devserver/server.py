"""The local API server: `chalice local`'s gateway behind a request handler that guards it.

``chalice local`` (Python's ``BaseHTTPRequestHandler``) reads a whole body of
any size before the app sees it, waits forever on a body that trickles in, and
answers unknown methods with an HTML page. The local stack and the compose
stack serve the API through this instead; the Lambda path is unchanged, and
routes, events and responses are still chalice's own. Here:

- a body over ``MAX_UPLOAD_BYTES`` is refused from its ``Content-Length``
  before a byte of it is read (``413``), and one without a length is refused;
- a body sent to a keyed route without a valid ``X-Api-Key`` is refused (``401``)
  before a byte of it is read;
- headers and body must arrive within ``READ_DEADLINE`` seconds in all;
- every answer the server makes itself (unknown method, bad request line,
  unknown route) is the API's JSON error shape, and HEAD never gets a body.

Run: ``python -m scripts.devserver --port 8000`` (``scripts.devstack`` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

from chalice import local
from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes

from chalicelib.core.errors import (
    InvalidRequest,
    MethodNotAllowed,
    RequestTimeout,
    RouteNotFound,
    ServiceError,
    UploadTooLarge,
)
from chalicelib.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# Headers and body of one request, in all; and the wait for any single read.
READ_DEADLINE = 30.0
SOCKET_TIMEOUT = 15.0
# C0 and C1 controls and DEL as \xNN in the log: a request line is the client's bytes,
# and a raw escape sequence or newline in it would forge or hide log lines.
_LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


class _BodyRefused(Exception):
    def __init__(self, error: ServiceError) -> None:
        self.error = error


class GuardedRequestHandler(local.ChaliceRequestHandler):
    """chalice's request handler with size, time and method guards in front of it."""

    # BaseHTTPRequestHandler applies this to the socket: no read waits longer.
    timeout = SOCKET_TIMEOUT
    max_body_bytes = 10 * 1024 * 1024
    # The app's route table (path -> method -> view), for the Allow header.
    routes: ClassVar[dict[str, dict[str, Any]]] = {}
    # The app's check of a request's key from its path and X-Api-Key (raises a
    # ServiceError), run before a body is read.
    check_key: ClassVar[Callable[[str, str | None], None] | None] = None

    read_deadline = READ_DEADLINE

    def handle_one_request(self) -> None:
        # Shutting the reading side at the deadline wakes a read that waits on a
        # trickle; the answer can still be written.
        self._deadline = threading.Timer(self.read_deadline, self._stop_reading)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            super().handle_one_request()
        finally:
            self._deadline.cancel()

    def _stop_reading(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        if self.headers.get("transfer-encoding"):
            raise _BodyRefused(InvalidRequest("Send the body with a Content-Length header."))
        declared = (self.headers.get("content-length") or "0").strip()
        if not declared.isdigit():
            raise _BodyRefused(InvalidRequest("The Content-Length header is malformed."))
        length = int(declared)
        if length > self.max_body_bytes:
            raise _BodyRefused(UploadTooLarge.body_over(self.max_body_bytes))
        check_key = type(self).check_key
        if length and check_key is not None:
            try:
                check_key(self.path, self.headers.get("x-api-key"))
            except ServiceError as refused:
                raise _BodyRefused(refused) from None
        body = self.rfile.read(length) if length else b""
        self._deadline.cancel()
        if len(body) < length:
            raise _BodyRefused(RequestTimeout())
        return dict(self.headers), body or None

    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except _BodyRefused as refused:
            # The rest of the body is never read, so the connection cannot be reused.
            self.close_connection = True
            self._send_json_error(refused.error)
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_error_response(self, error: local.LocalGatewayException) -> None:
        # No route matched: API Gateway's "Missing Authentication Token" becomes a 404.
        if isinstance(error, local.ForbiddenError):
            self._send_json_error(RouteNotFound())
        else:
            super()._send_error_response(error)

    def _send_http_response_with_body(self, code: int, headers: Any, body: Any) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        self.send_response(code)
        data = body if isinstance(body, bytes) else str(body).encode("utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own errors (bad request line, unknown method) as JSON."""
        headers = {}
        if code == HTTPStatus.NOT_IMPLEMENTED:
            error: ServiceError = MethodNotAllowed()
            headers["Allow"] = ", ".join(self._allowed_methods())
        else:
            error = InvalidRequest(message or HTTPStatus(code).phrase)
            error.status = code
        self.close_connection = True
        self._send_json_error(error, headers)

    def _allowed_methods(self) -> list[str]:
        """The methods the requested path's route has (RFC 9110: a 405 says which)."""
        path = (getattr(self, "path", "") or "").split("?", 1)[0]
        try:
            route = local.RouteMatcher(list(self.routes)).match_route(path).route
        except ValueError:
            return []
        return sorted(self.routes[route])

    def _send_json_error(self, error: ServiceError, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": error.to_dict()}).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        message = (format % args).translate(_LOG_ESCAPES)
        sys.stderr.write(f"{self.address_string()} - {message}\n")


def make_server(
    host: str, port: int, stage: str = "local", read_deadline: float = READ_DEADLINE
) -> local.LocalDevServer:
    """A chalice dev server for ``stage`` of this project, with the guarded handler."""
    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)
    # What chalice.local.create_local_server does: requests are per thread.
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
    app.__class__ = local.CustomLocalChalice
    settings = Settings.from_env()
    # chalice imported the project's app.py as the module ``app``.
    check_key = getattr(sys.modules.get("app"), "check_key_before_body", None)
    handler = type(
        "Handler",
        (GuardedRequestHandler,),
        {
            "max_body_bytes": settings.max_upload_bytes,
            "read_deadline": read_deadline,
            "routes": app.routes,
            "check_key": staticmethod(check_key) if check_key else None,
        },
    )
    return local.LocalDevServer(app, config, host, port, handler_cls=handler)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=READ_DEADLINE,
        help="seconds a request's headers and body may take to arrive, in all",
    )
    parser.add_argument(
        "--run-schedules",
        action="store_true",
        help="run the app's rate schedules (watch_queue: metrics, the reconciler) as AWS does",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = make_server(args.host, args.port, args.stage, args.read_timeout)
    # SIGTERM (docker stop, the local stack's stop) ends the server as Ctrl-C does,
    # with exit status 0, rather than killing it mid-answer.
    signal.signal(signal.SIGTERM, _interrupt)
    stop = threading.Event()
    if args.run_schedules:
        from scripts.devserver import schedules

        schedules.start(server.app_object, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
