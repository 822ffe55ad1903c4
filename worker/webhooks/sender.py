"""Sends one webhook POST to a checked address, within one total deadline.

The connection goes to ``CallbackTarget.address``, the address the SSRF check
approved, never to a second DNS answer; the name travels only as the Host
header and the TLS server name (so certificates are still verified against
it). A watchdog shuts the socket down when the deadline passes, so connect,
TLS handshake, sending and reading the answer together never take longer,
whatever the receiver does (a receiver that drips one byte at a time included).
Redirects are never followed: the status is all that is read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping

from chalicelib.webhooks.callbacks import CallbackTarget


class DeliveryFailed(Exception):
    """No HTTP status came back: the reason is short and names no address."""


class _Watchdog:
    """Shuts down the watched socket at ``deadline`` (time.monotonic seconds)."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            # The plain socket's shutdown, also for a TLS socket: it wakes a
            # blocked read without touching the TLS state another thread uses.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def post_webhook(
    target: CallbackTarget,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` to ``target`` and return the HTTP status of the answer.

    Raises ``DeliveryFailed`` when no status arrives within ``timeout`` seconds in
    all, or the connection or TLS fails.
    """
    deadline = time.monotonic() + timeout
    watchdog = _Watchdog(deadline)
    family = socket.AF_INET6 if target.address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        watchdog.watch(sock)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.connect((str(target.address), target.port))
        if target.scheme == "https":
            context = tls or ssl.create_default_context()
            sock = context.wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            watchdog.watch(sock)
            sock.do_handshake()
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = sock  # already connected: http.client never dials itself
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", target.host_header)
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Connection", "close")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        # Only the status line and headers are read: the answer's body is not
        # needed, and the socket closes right after.
        return int(connection.getresponse().status)
    except ssl.SSLCertVerificationError:
        raise DeliveryFailed("the receiver's TLS certificate is not valid for its name") from None
    except (OSError, http.client.HTTPException) as exc:
        # The socket's own timeout and the watchdog end the same attempt at the same
        # moment; whichever comes first, it is the one deadline (the circuit breaker
        # counts these).
        if watchdog.fired or isinstance(exc, TimeoutError):
            raise DeliveryFailed(f"no answer within {timeout:g} s") from None
        raise DeliveryFailed(_reason(exc)) from None
    finally:
        watchdog.cancel()
        sock.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return "TLS failed"
    if isinstance(exc, http.client.HTTPException):
        return "malformed HTTP answer"
    return "connection failed"
