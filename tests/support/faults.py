"""A fault-injecting HTTP proxy in front of the S3 endpoint, controlled by the test.

Rules match requests by method and path and delay them, answer them with an
error status, or drop the connection, a given number of times. Everything else
is forwarded unchanged to the upstream endpoint (moto's server).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    """What to do to matching requests: ``delay`` seconds, then ``status`` or ``drop``."""

    method: str
    path: str  # a regular expression searched in the request path
    delay: float = 0.0
    status: int | None = None
    drop: bool = False
    times: int = 1_000_000
    skip: int = 0  # let this many matching requests through first
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        self.seen += 1
        return self.seen > self.skip and self.hits < self.times


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.seen.append((method, path))
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def start(self) -> str:
        proxy = self
        upstream = urlsplit(self.upstream)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                # The client may go away (a killed worker): then there is nothing to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.take(self.command, self.path)
                if fault is not None:
                    time.sleep(fault.delay)
                    if fault.drop:
                        self.close_connection = True
                        self.connection.close()
                        return
                    if fault.status is not None:
                        payload = (
                            f"<Error><Code>InjectedFault</Code><Message>status "
                            f"{fault.status}</Message></Error>"
                        ).encode()
                        self.send_response(fault.status)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                connection = http.client.HTTPConnection(
                    upstream.hostname, upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                # A HEAD answer has no body but states the object's length: keep it.
                passed = ("transfer-encoding", "connection")
                if self.command != "HEAD":
                    passed += ("content-length",)
                for name, value in response.getheaders():
                    if name.lower() not in passed:
                        self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
