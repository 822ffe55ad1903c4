"""Fixtures of the live local stack: moto S3, real workers, the API over HTTP (a pytest plugin)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.devstack.processes import free_port, isolated_env
from scripts.devstack.stack import DevStack
from tests.support.faults import FaultyProxy

# Small limits so that the "too large" cases stay cheap to send.
TEST_LIMITS = {
    "MAX_UPLOAD_BYTES": str(3 * 1024 * 1024),
    "MAX_SOURCE_BYTES": str(5 * 1024 * 1024),
    "MAX_TEXT_CHARS": "2000",
    # A decode budget that keeps a pool process near its ~230 MB baseline (the hostile
    # corpus holds every pool process under 256 MB): the tests' largest real photo,
    # 2000x2000, needs 32 MB; every flat in-limit bomb of the corpus needs 50 MB or more.
    "MAX_DECODE_BYTES": str(40 * 1024 * 1024),
    "RESULT_URL_TTL": "120",
    # Test records on a shared Redis clean themselves up.
    "JOB_TTL_SECONDS": "3600",
    "WEBHOOK_SECRET": "test-webhook-secret",
    "ALLOW_PRIVATE_CALLBACKS": "true",
    # The tests' receivers listen on loopback ports of their own.
    "WEBHOOK_PORTS": "any",
    # The tests' clients poll fast and the load test queues a thousand jobs, all as the
    # anonymous tenant: the default tenant limits are raised for them. The limits are
    # tested with tenants given small limits of their own (test_tenants.py, and
    # tests/reliability/test_fairness.py with the defaults).
    "TENANT_REQUESTS_PER_SECOND": "1000",
    "TENANT_BURST": "2000",
    "TENANT_JOBS_IN_FLIGHT": "2000",
    "TENANT_HEAVY_JOBS_IN_FLIGHT": "100",
    "TENANT_WORK_SECONDS_PER_HOUR": "1000000",
}


def stack_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """Settings for a stack of the tests' own: its own bucket and queue on the test Redis."""
    return isolated_env(redis_url, "test", WORKER_COUNT="2", **{**TEST_LIMITS, **overrides})


@pytest.fixture(scope="session")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """Moto's S3 server, the bucket, two workers and the API, shared by the session."""
    local = DevStack(stack_env(redis_url), log_dir=tmp_path_factory.mktemp("stack-logs"))
    try:
        local.start_all(worker_count=2, api_port=free_port())
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def proxied(
    stack: DevStack, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DevStack, FaultyProxy]]:
    """A stack of its own (queue, bucket, two workers, API) whose S3 traffic passes a
    fault-injecting proxy in front of the session's moto server."""
    proxy = FaultyProxy(stack.env["AWS_ENDPOINT_URL"])
    endpoint = proxy.start()
    local = DevStack(
        stack_env(redis_url, AWS_ENDPOINT_URL=endpoint),
        log_dir=tmp_path_factory.mktemp("proxied-logs"),
    )
    try:
        local.start_all(worker_count=2, api_port=free_port())
        yield local, proxy
    finally:
        local.stop()
        proxy.stop()


@pytest.fixture(scope="session")
def api(stack: DevStack) -> str:
    return stack.api_url


class ApiClient:
    """Small helper over ``requests`` for the service's endpoints."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def submit(
        self,
        image: bytes | None,
        text: str | None = "",
        filename: str = "photo.jpg",
        options: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        files: dict[str, Any] = {}
        if image is not None:
            files["image"] = (filename, image, "application/octet-stream")
        data: dict[str, Any] = {}
        if text is not None:
            data["text"] = text
        if options is not None:
            data["options"] = options if isinstance(options, str) else json.dumps(options)
        return self.http.post(
            f"{self.base_url}/api/process", files=files or None, data=data, timeout=30, **kwargs
        )

    def status(self, job_id: str) -> requests.Response:
        return self.http.get(f"{self.base_url}/api/status/{job_id}", timeout=30)

    def wait(
        self, job_id: str, timeout: float = 60, until: Callable[[dict], bool] | None = None
    ) -> dict[str, Any]:
        until = until or (lambda body: body["status"] in ("completed", "failed"))
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.status(job_id).json()
            if until(body):
                return body
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s: {body}")


@pytest.fixture(scope="session")
def client(api: str) -> ApiClient:
    return ApiClient(api)


@pytest.fixture(scope="session")
def s3(stack: DevStack) -> Any:
    return stack.s3_client()


@pytest.fixture(scope="session")
def bucket(stack: DevStack) -> str:
    return stack.env["S3_BUCKET"]


def read_logs(stack: DevStack) -> str:
    return "\n".join(
        f"== {p.name}\n{Path(p.log_path).read_text(errors='replace')[-4000:]}"
        for p in stack.processes
    )
