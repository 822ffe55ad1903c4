"""CORS: a preflight from a configured origin is answered, others are not; answers name it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.support.stack_fixtures import stack_env

pytestmark = pytest.mark.slow

ALLOWED = "https://app.example.com"
ALSO = "http://localhost:5173"


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    local = DevStack(
        stack_env(redis_url, CORS_ALLOW_ORIGINS=f"{ALLOWED}, {ALSO}"),
        log_dir=tmp_path_factory.mktemp("cors-logs"),
    )
    try:
        yield local.start_all(worker_count=1, api_port=free_port())
    finally:
        local.stop()


def preflight(api: str, origin: str, method: str = "POST") -> requests.Response:
    return requests.options(
        f"{api}/api/process",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-api-key,idempotency-key",
        },
        timeout=10,
    )


def test_a_preflight_from_the_configured_origin_is_answered(api: str) -> None:
    answer = preflight(api, ALLOWED)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = answer.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed and "idempotency-key" in allowed


def test_answers_name_the_origin_errors_included(api: str) -> None:
    for origin in (ALLOWED, ALSO):
        answer = requests.get(f"{api}/api/status/{'0' * 32}", headers={"Origin": origin})
        assert answer.status_code == 404
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert "Location" in answer.headers["Access-Control-Expose-Headers"]
    other = requests.get(f"{api}/api/status/{'0' * 32}", headers={"Origin": "https://evil.example"})
    assert other.headers.get("Access-Control-Allow-Origin") != "https://evil.example"


def test_no_cors_by_default(stack: DevStack) -> None:
    answer = preflight(stack.api_url, ALLOWED)
    assert "Access-Control-Allow-Origin" not in answer.headers
