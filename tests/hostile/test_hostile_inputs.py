"""Every case of the hostile corpus through the live stack: a clear answer, nothing harmed.

For each case the answer must be a 4xx with the JSON error shape, or a 202 whose job
ends ``failed`` with a specific code (never ``internal_error``), or ``completed`` for
the cases the corpus marks as valid images in disguise. No case may give a 5xx, kill
or replace a worker process, or push a worker pool process over 256 MB of resident
memory. The time each case takes to settle and the pool's peak memory are measured
and printed as a table (``pytest -s``; also written under the pytest temp directory),
never asserted: a test does not assert wall-clock times.

    .venv/bin/python -m pytest tests/hostile -s -q
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from scripts.devstack.stack import DevStack
from tests.hostile.corpus import Case, build_corpus
from tests.support.stack_fixtures import ApiClient, read_logs

MEMORY_LIMIT = 256 * 1024 * 1024
SETTLE_TIMEOUT = 30.0
POLL_INTERVAL = 0.02
SAFE_KEY = re.compile(
    r"(uploads|results)/[0-9a-f]{32}/[a-z0-9][a-z0-9_.-]*|uploads/incoming/[0-9a-f]{32}"
)
# What no answer may show a client: storage keys, addresses, backend words, traces.
LEAKS = re.compile(
    r"(uploads|results)/|\b\d{1,3}(\.\d{1,3}){3}\b|\[?[0-9a-f]{0,4}(:[0-9a-f]{0,4}){3,}|"
    r"redis|botocore|boto3|kombu|celery|NoSuchKey|AccessDenied|Traceback|File \"|"
    r"\w+Error\b|\w+Exception\b",
    re.I,
)

CASES = build_corpus()


class PoolWatch:
    """The worker processes of a stack and the peak resident memory of their pools.

    The peak comes from the kernel's high-water mark (``VmHWM``, reset per case
    through ``clear_refs``) where that is allowed, and from psutil samples taken
    every few milliseconds otherwise; the larger of the two is reported.
    """

    def __init__(self, stack: DevStack):
        self.workers = {w.pid for w in stack.workers}
        self.pool = self.pool_pids()
        self._sampled = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def pool_pids(self) -> set[int]:
        pids: set[int] = set()
        for pid in self.workers:
            with suppress(psutil.NoSuchProcess):
                pids |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        return pids

    def alive_workers(self) -> set[int]:
        return {pid for pid in self.workers if psutil.pid_exists(pid)}

    def _sample(self) -> None:
        processes = {pid: psutil.Process(pid) for pid in self.pool}
        while not self._stop.is_set():
            for process in processes.values():
                with suppress(psutil.Error):
                    rss = process.memory_info().rss
                    with self._lock:
                        self._sampled = max(self._sampled, rss)
            time.sleep(0.003)

    def reset(self) -> None:
        with self._lock:
            self._sampled = 0
        for pid in self.pool:
            # "5" resets the peak RSS the kernel keeps for the process (Linux 4.0+).
            with suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak(self) -> int:
        peaks = [self._sampled]
        for pid in self.pool:
            with suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
                if match:
                    peaks.append(int(match.group(1)) * 1024)
        return max(peaks)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Row:
    case: Case
    answer: str  # "415 unsupported_image", "failed corrupt_image", "completed"
    settle_s: float
    peak_bytes: int


@pytest.fixture(scope="module")
def pool(stack: DevStack) -> Iterator[PoolWatch]:
    watch = PoolWatch(stack)
    yield watch
    watch.stop()


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Row]]:
    collected: list[Row] = []
    yield collected
    table = format_table(collected)
    path = tmp_path_factory.getbasetemp() / "hostile-input-table.md"
    path.write_text(table)
    print(f"\n{table}\n(written to {path})")


def format_table(rows: list[Row]) -> str:
    lines = [
        "| group | case | answer | settle (s) | peak pool RSS (MB) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for row in rows:
        name = row.case.name.replace("|", "\\|")
        lines.append(
            f"| {row.case.group} | {name} | {row.answer} | {row.settle_s:.3f} | "
            f"{row.peak_bytes / 2**20:.0f}{' (exempt)' if row.case.memory_exempt else ''} |"
        )
    if rows:
        slowest = max(rows, key=lambda r: r.settle_s)
        fattest = max(
            (r for r in rows if not r.case.memory_exempt),
            key=lambda r: r.peak_bytes,
            default=rows[0],
        )
        lines.append("")
        lines.append(
            f"{len(rows)} cases; slowest {slowest.settle_s:.3f} s ({slowest.case.name}); "
            f"highest peak {fattest.peak_bytes / 2**20:.0f} MB ({fattest.case.name})."
        )
    return "\n".join(lines)


def send(client: ApiClient, case: Case) -> requests.Response:
    headers = dict(case.extra_headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    return client.http.post(
        f"{client.base_url}{case.path}", data=case.body, headers=headers, timeout=30
    )


def check_error_shape(response: requests.Response) -> str:
    """The JSON error body's code, after checking its shape (and that it leaks nothing)."""
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    assert_no_leak(error["message"])
    return str(error["code"])


def assert_no_leak(message: str) -> None:
    """An error message a client sees names no key, bucket, address or backend."""
    assert "test-media-" not in message, message  # the test stacks' bucket names
    found = LEAKS.search(message)
    assert found is None, f"{message!r} shows {found.group(0)!r}"


def settle(client: ApiClient, case: Case) -> tuple[str, dict[str, Any] | None]:
    """Send the case and follow its job to the end: the answer and the final status body."""
    response = send(client, case)
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code != 202:
        assert 400 <= response.status_code < 500, response.text[:500]
        return f"{response.status_code} {check_error_shape(response)}", None
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        status = client.status(job_id)
        assert status.status_code == 200, status.text
        body = status.json()
        if body["status"] == "completed":
            return "completed", body
        if body["status"] == "failed":
            return f"failed {body['error']['code']}", body
        time.sleep(POLL_INTERVAL)
    raise AssertionError(f"{case.name}: job {job_id} did not settle in {SETTLE_TIMEOUT} s")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(
    case: Case, client: ApiClient, stack: DevStack, pool: PoolWatch, rows: list[Row]
) -> None:
    pool.reset()
    started = time.perf_counter()
    answer, final = settle(client, case)
    settle_s = time.perf_counter() - started
    peak = pool.peak()
    rows.append(Row(case, answer, settle_s, peak))
    if final is not None and final.get("error"):
        assert_no_leak(final["error"]["message"])

    assert answer != "failed internal_error", read_logs(stack)
    assert answer in case.expect, f"{case.name}: got {answer!r}, expected one of {case.expect}"
    assert pool.alive_workers() == pool.workers, read_logs(stack)
    if not case.memory_exempt:
        assert peak < MEMORY_LIMIT, f"{case.name}: a pool process peaked at {peak / 2**20:.0f} MB"
    if answer == "completed" and case.forbidden_in_outputs:
        assert final is not None
        for output in final["result"]["outputs"]:
            data = requests.get(output["url"], timeout=10).content
            for payload in case.forbidden_in_outputs:
                assert payload not in data, f"{output['name']} carries {payload!r}"


def test_workers_survived_the_corpus(stack: DevStack, pool: PoolWatch, s3: Any, bucket: str):
    """Runs after the corpus (file order): the same worker and pool processes, safe keys."""
    from worker.celery_app import app as celery_app

    assert pool.alive_workers() == pool.workers
    if not celery_app.conf.worker_max_tasks_per_child:
        # A pool process replaced during the corpus means one died (a crash, the OOM killer).
        assert pool.pool_pids() == pool.pool, read_logs(stack)
    # No client-given name ever reaches a storage key.
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    ]
    assert keys
    assert [k for k in keys if not SAFE_KEY.fullmatch(k)] == []
