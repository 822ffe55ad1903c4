"""With Redis or S3 down, the API answers 503 service_unavailable and leaves nothing half made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import requests

from chalicelib.core.version import VERSION
from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.support.helpers import assert_error
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient, stack_env


@pytest.fixture(scope="module")
def api_without_redis(
    stack: DevStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiClient, DevStack]]:
    """An API whose Redis does not answer (nothing listens on the port); S3 is up."""
    env = {
        **stack.env,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "REDIS_SOCKET_TIMEOUT": "1",
        "S3_BUCKET": f"{stack.env['S3_BUCKET']}-no-redis",
    }
    local = DevStack(env, log_dir=tmp_path_factory.mktemp("no-redis"))
    local.ensure_bucket()
    try:
        local.start_api(free_port(), healthy=False)
        yield ApiClient(local.api_url), local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def api_without_s3(
    stack: DevStack, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiClient, DevStack]]:
    """An API whose S3 endpoint does not answer; Redis is up (with its own queue)."""
    env = stack_env(redis_url, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    local = DevStack(env, log_dir=tmp_path_factory.mktemp("no-s3"))
    try:
        local.start_api(free_port(), healthy=False)
        yield ApiClient(local.api_url), local
    finally:
        local.stop()


def test_health_names_redis_when_it_is_down(api_without_redis) -> None:
    client, _ = api_without_redis
    response = requests.get(f"{client.base_url}/api/health", timeout=20)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "version": VERSION,
        "checks": {"redis": "service_unavailable", "s3": "ok"},
    }


def test_submit_with_redis_down_is_503_and_leaves_no_source(api_without_redis, s3) -> None:
    client, local = api_without_redis
    assert_error(client.submit(jpeg(64, 64), "t"), 503, "service_unavailable")
    # The source stored before the Redis failure was removed again.
    listed = s3.list_objects_v2(Bucket=local.env["S3_BUCKET"])
    assert listed.get("Contents", []) == []


def test_status_with_redis_down_is_503(api_without_redis) -> None:
    client, _ = api_without_redis
    assert_error(client.status("0" * 32), 503, "service_unavailable")


def test_health_names_s3_when_it_is_down(api_without_s3) -> None:
    client, _ = api_without_s3
    response = requests.get(f"{client.base_url}/api/health", timeout=30)
    assert response.status_code == 503
    assert response.json()["checks"] == {"redis": "ok", "s3": "service_unavailable"}


def test_submit_with_s3_down_is_503_and_queues_nothing(api_without_s3, redis_url: str) -> None:
    client, local = api_without_s3
    r = redis.Redis.from_url(redis_url)
    before = set(r.keys("job:*"))
    assert_error(client.submit(jpeg(64, 64), "t"), 503, "service_unavailable")
    assert not set(r.keys("job:*")) - before
    assert r.llen(local.env["CELERY_QUEUE"]) == 0
