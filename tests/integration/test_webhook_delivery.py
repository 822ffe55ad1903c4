"""Webhook delivery over loopback only: pinned address, total deadline, TLS by name.

The resolvers here are fakes: no name is looked up and no packet leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.core.errors import InvalidCallback
from chalicelib.webhooks.callbacks import CallbackPolicy, IPAddress, resolve_callback
from worker.webhooks.sender import DeliveryFailed, post_webhook

LOCAL = CallbackPolicy(allow_private=True, ports=None)
STRICT = CallbackPolicy(allow_private=False, ports=None)


class ScriptedResolver:
    """Answers each lookup with the next address of a script (the last one repeats)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [ipaddress.ip_address(answer)]


class Receiver:
    """A loopback TCP server; each connection is handed to ``behaviour`` in a thread."""

    def __init__(self, behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.requests: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.behaviour(conn, self._stop)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()


def answer_204(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def drip(conn: socket.socket, stop: threading.Event) -> None:
    """One byte of a status line every 0.2 s, for a minute: a receiver that never finishes."""
    for byte in b"HTTP/1.1 200 OK\r\n" * 20:
        if stop.is_set():
            return
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


@pytest.fixture()
def receiver_factory() -> Iterator:
    made: list[Receiver] = []

    def make(behaviour=answer_204, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = Receiver(behaviour, tls)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def host_header(request: bytes) -> str:
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"host:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Host header")


def test_delivery_dials_the_checked_address_and_sends_the_name(receiver_factory) -> None:
    receiver = receiver_factory()
    resolver = ScriptedResolver("127.0.0.1", "127.0.0.2")
    target = resolve_callback(f"http://hooks.example:{receiver.port}/in?x=1", LOCAL, resolver)
    status = post_webhook(target, b"{}", {"Content-Type": "application/json"}, timeout=5)
    assert status == 204
    assert resolver.calls == 1  # resolved once; the connection went to that answer
    assert host_header(receiver.requests[0]) == f"hooks.example:{receiver.port}"
    assert receiver.requests[0].startswith(b"POST /in?x=1 HTTP/1.1\r\n")


def test_a_rebinding_resolver_cannot_turn_delivery_inwards(receiver_factory) -> None:
    receiver = receiver_factory()
    url = f"http://rebind.example:{receiver.port}/hook"
    # At submit the name answers a public address; at delivery, loopback.
    resolver = ScriptedResolver("93.184.216.34", "127.0.0.1")
    assert resolve_callback(url, STRICT, resolver).address == ipaddress.ip_address("93.184.216.34")
    with pytest.raises(InvalidCallback):
        resolve_callback(url, STRICT, resolver)  # the delivery's one lookup
    assert receiver.requests == []


def test_a_dripping_receiver_is_cut_at_the_deadline(receiver_factory) -> None:
    receiver = receiver_factory(drip)
    target = resolve_callback(
        f"http://127.0.0.1:{receiver.port}/slow", LOCAL, ScriptedResolver("127.0.0.1")
    )
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match=r"no answer within 1\.5 s"):
        post_webhook(target, b"{}", {}, timeout=1.5)
    # The receiver would drip for a minute; the deadline ended the attempt (printed,
    # not asserted: tests do not assert wall-clock times).
    print(f"dripping receiver cut after {time.monotonic() - started:.2f} s (deadline 1.5 s)")
    assert len(receiver.requests) == 1


def test_a_receiver_that_never_answers_is_cut_at_the_deadline(receiver_factory) -> None:
    receiver = receiver_factory(lambda conn, stop: stop.wait(60))
    target = resolve_callback(
        f"http://127.0.0.1:{receiver.port}/", LOCAL, ScriptedResolver("127.0.0.1")
    )
    with pytest.raises(DeliveryFailed, match="no answer within"):
        post_webhook(target, b"{}", {}, timeout=1.0)


def test_a_closed_port_fails_without_naming_the_address() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    target = resolve_callback(f"http://127.0.0.1:{port}/", LOCAL, ScriptedResolver("127.0.0.1"))
    with pytest.raises(DeliveryFailed) as failed:
        post_webhook(target, b"{}", {}, timeout=2)
    assert "127.0.0.1" not in str(failed.value)


def _certificate(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name``: the server's context and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


def test_tls_is_verified_against_the_name_not_the_address(receiver_factory, tmp_path: Path) -> None:
    server_tls, client_tls = _certificate(tmp_path, "hooks.example")
    receiver = receiver_factory(tls=server_tls)
    resolver = ScriptedResolver("127.0.0.1")
    good = resolve_callback(f"https://hooks.example:{receiver.port}/tls", LOCAL, resolver)
    assert post_webhook(good, b"{}", {}, timeout=5, tls=client_tls) == 204
    # The same address under another name: the certificate does not match it.
    other = resolve_callback(f"https://other.example:{receiver.port}/tls", LOCAL, resolver)
    with pytest.raises(DeliveryFailed, match="certificate"):
        post_webhook(other, b"{}", {}, timeout=5, tls=client_tls)
