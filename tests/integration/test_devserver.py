"""The local API server's guards: JSON for every method, bodies refused or cut before harm."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.devstack.processes import ROOT, free_port, http_answers, wait_for
from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient, stack_env


def raw_request(port: int, head: bytes, body: bytes = b"", read_timeout: float = 20) -> bytes:
    """Send bytes as they are and read the whole answer (the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def split_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def start_server(port: int, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``scripts.devserver`` on ``port``, once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.devserver", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: http_answers(f"http://127.0.0.1:{port}/api/openapi.json") == 200, "devserver", 60
    )
    return process


@pytest.fixture(scope="module")
def quick_server(redis_url: str) -> Iterator[int]:
    """A server of its own whose read deadline is one second (no backend needed)."""
    port = free_port()
    env = {**stack_env(redis_url), "MAX_UPLOAD_BYTES": "1000000"}
    process = start_server(port, env, "--read-timeout", "1")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW", "PROPFIND", "PUT", "PATCH"])
def test_every_method_gets_the_json_error_shape(api: str, method: str) -> None:
    response = requests.request(method, f"{api}/api/status/{'0' * 32}", timeout=10)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_head_gets_headers_and_no_body(quick_server: int) -> None:
    answer = raw_request(
        quick_server, b"HEAD /api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, headers, body = split_answer(answer)
    assert status == 405 and headers["content-type"].startswith("application/json")
    assert body == b""


def test_an_unknown_route_is_a_json_404(api: str) -> None:
    response = requests.get(f"{api}/api/nothing-here", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_request_line_is_json(quick_server: int) -> None:
    status, headers, body = split_answer(raw_request(quick_server, b"GET /a b c HTTP/1.1\r\n\r\n"))
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "invalid_request"


def test_an_oversized_body_is_refused_before_it_is_sent(quick_server: int) -> None:
    # Only the headers go out: the answer comes without the server waiting for 300 MB.
    head = (
        b"POST /api/process HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        b"boundary=b\r\nContent-Length: 300000000\r\n\r\n"
    )
    status, _, body = split_answer(raw_request(quick_server, head))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "upload_too_large"


@pytest.mark.parametrize(
    "length_header",
    [b"Content-Length: -5\r\n", b"Content-Length: 12abc\r\n", b"Transfer-Encoding: chunked\r\n"],
)
def test_a_body_without_a_usable_length_is_refused(quick_server: int, length_header: bytes) -> None:
    head = (
        b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + length_header
        + b"\r\n"
    )
    status, _, body = split_answer(raw_request(quick_server, head, b"5\r\n{}\r\n0\r\n\r\n"))
    assert status == 400
    assert json.loads(body)["error"]["code"] == "invalid_request"


@pytest.fixture(scope="module")
def keyed_server(redis_url: str) -> Iterator[int]:
    """A server of its own that admits only the keys of ``API_KEYS``."""
    port = free_port()
    process = start_server(port, {**stack_env(redis_url), "API_KEYS": "right-key"})
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("key_header", [b"", b"X-Api-Key: wrong-key\r\n"])
def test_a_body_without_a_valid_key_is_refused_before_it_is_sent(
    keyed_server: int, key_header: bytes
) -> None:
    # Only the headers go out; a server that read the body first would wait for the 900 KB.
    head = (
        b"POST /api/process HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        b"boundary=b\r\nContent-Length: 900000\r\n" + key_header + b"\r\n"
    )
    status, _, body = split_answer(raw_request(keyed_server, head, read_timeout=10))
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"


def test_a_body_with_a_valid_key_is_read(keyed_server: int) -> None:
    response = requests.post(
        f"http://127.0.0.1:{keyed_server}/api/uploads",
        json={"content_type": "text/plain"},
        headers={"X-Api-Key": "right-key"},
        timeout=10,
    )
    # The app read the body and judged it (an upload of text is not an image).
    assert response.status_code in (400, 415, 422)
    assert response.json()["error"]["code"] != "unauthorized"


def test_a_trickling_body_is_cut_at_the_read_deadline(quick_server: int) -> None:
    head = (
        b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", quick_server), timeout=20) as sock:
        sock.sendall(head)
        started = time.monotonic()
        answer = b""
        # One byte every 0.3 s would take 5 minutes for the whole body.
        sock.settimeout(0.3)
        while not answer and time.monotonic() - started < 20:
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        sock.settimeout(5)
        while chunk := sock.recv(65536):
            answer += chunk
    print(f"trickling body answered after {time.monotonic() - started:.2f} s (deadline 1 s)")
    status, _, body = split_answer(answer)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_normal_request_still_works(quick_server: int) -> None:
    response = requests.get(f"http://127.0.0.1:{quick_server}/api/openapi.json", timeout=10)
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.")


def test_sigterm_ends_the_server_cleanly(redis_url: str) -> None:
    """docker stop sends SIGTERM: the server ends at once with status 0 (not 143)."""
    process = start_server(free_port(), stack_env(redis_url))
    try:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def burst(url: str, image: bytes, count: int) -> list[int]:
    """The status codes of ``count`` submits sent at the same moment, each on its own
    connection and thread."""
    start = threading.Barrier(count)

    def submit(i: int) -> int:
        start.wait()
        return ApiClient(url).submit(image, f"burst {i}").status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(submit, range(count)))


def test_a_fresh_server_accepts_its_first_submits_at_once(stack: DevStack) -> None:
    """The first requests of a new API process arrive together (a burst after `make dev`,
    a client's parallel uploads): each is answered on a thread of its own, and each
    202. One of them used to get a 503: the threads imported celery for the first
    time at once."""
    image = jpeg(64, 48)
    for _ in range(3):  # fresh processes: the race was one of timing
        port = free_port()
        process = start_server(port, dict(stack.env))
        try:
            assert burst(f"http://127.0.0.1:{port}", image, 8) == [202] * 8
        finally:
            process.terminate()
            process.wait(10)
