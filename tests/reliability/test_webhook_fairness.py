"""Webhooks fair per tenant, on the live stack: one tenant's dead receiver does not delay
another tenant's webhook (the issue's bound: it arrives within 5 s of its submit while
the first tenant has 20 callbacks hanging on a receiver that never answers)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support import imagegen
from tests.support.tenant_client import TenantClient

WEBHOOK_BOUND_S = 5.0
HANGING = 20


class Receiver:
    """A loopback receiver: answers 204 at once, or (``hang``) reads and never answers."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.arrivals: list[float] = []
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.server.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.arrivals.append(time.monotonic())
            if self.hang:
                self._held.append(conn)  # accepted, read, never answered
                return
            conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        conn.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.close()
        for conn in self._held:
            conn.close()


@pytest.fixture()
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    dead, alive = Receiver(hang=True), Receiver(hang=False)
    yield dead, alive
    dead.close()
    alive.close()


def _submit(tenant: TenantClient, callback: str) -> str:
    image = imagegen.encoded(imagegen.marked_image(16, 16), "PNG")
    answer = tenant.submit(image, text="hook", callback_url=callback)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


@pytest.mark.slow
def test_another_tenants_webhook_is_not_held_by_a_dead_receiver(
    receivers: tuple[Receiver, Receiver], tenant: Callable[..., TenantClient]
) -> None:
    dead, alive = receivers
    limits = {"jobs_in_flight": HANGING + 5}
    first, other = tenant("dead-receiver", **limits), tenant("other", **limits)
    for _ in range(HANGING):
        _submit(first, dead.url)
    deadline = time.monotonic() + 30
    while len(dead.arrivals) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dead.arrivals, "the first tenant's callbacks are hanging"
    submitted = time.monotonic()
    _submit(other, alive.url)
    while not alive.arrivals and time.monotonic() < submitted + 60:
        time.sleep(0.05)
    assert alive.arrivals, "the other tenant's webhook never arrived"
    waited = alive.arrivals[0] - submitted
    print(
        f"\nwebhooks: another tenant's webhook arrived {waited:.2f} s after its submit, "
        f"while {len(dead.arrivals)} of the first tenant's calls hung (bound {WEBHOOK_BOUND_S:g} s)"
    )
    assert waited < WEBHOOK_BOUND_S
