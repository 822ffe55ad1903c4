"""The compose stack's S3 when LocalStack's image cannot be had: moto's server on port 4566.

It answers LocalStack's health path (``/_localstack/health``) so that the compose
file's health check works unchanged with either image, and says in that answer
that it is moto, not LocalStack. Objects live in memory: they do not survive a
restart of the container.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

import moto
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

HEALTH_PATH = "/_localstack/health"


class WithHealth:
    """moto's WSGI application, plus LocalStack's health answer."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.body = json.dumps(
            {"services": {"s3": "running"}, "edition": "moto-standin", "version": moto.__version__}
        ).encode()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(self.body)))],
            )
            return [self.body]
        return self.app(environ, start_response)


def main() -> None:
    # docker stop sends SIGTERM; moto's own server exits on it too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("MOTO_PORT", "4566"))
    run_simple(
        "0.0.0.0",
        port,
        WithHealth(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
