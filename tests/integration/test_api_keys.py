"""With API_KEYS set, every /api/* route but health and the API's description needs a key,
and each key is a tenant of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.support.helpers import assert_error
from tests.support.imagegen import jpeg


@pytest.fixture(scope="module")
def locked_api(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {**stack.env, "API_KEYS": "first-key, second-key"}
    local = DevStack(env, log_dir=tmp_path_factory.mktemp("locked"))
    try:
        yield local.start_api(free_port())
    finally:
        local.stop()


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/process"),
        ("POST", "/api/uploads"),
        ("GET", f"/api/status/{'0' * 32}"),
        ("DELETE", f"/api/jobs/{'0' * 32}"),
        ("GET", "/api/limits"),
    ],
)
@pytest.mark.parametrize("key", [None, "", "wrong", "first-key "])
def test_routes_refuse_a_missing_or_wrong_key(
    locked_api: str, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-Api-Key": key}
    response = requests.request(method, locked_api + path, headers=headers, timeout=10)
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("path", ["/api/health", "/api/openapi.json"])
def test_health_and_the_description_stay_open(locked_api: str, path: str) -> None:
    assert requests.get(f"{locked_api}{path}", timeout=10).status_code == 200


@pytest.mark.parametrize("key", ["first-key", "second-key"])
def test_each_configured_key_works(locked_api: str, key: str) -> None:
    headers = {"X-Api-Key": key}
    response = requests.post(
        f"{locked_api}/api/process",
        headers=headers,
        files={"image": ("a.jpg", jpeg(64, 64), "image/jpeg")},
        data={"text": "with a key"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    status = requests.get(
        f"{locked_api}{response.json()['status_url']}", headers=headers, timeout=10
    )
    assert status.status_code == 200
    # The other key is another tenant: this job does not exist for it.
    other = {"X-Api-Key": "second-key" if key == "first-key" else "first-key"}
    stranger = requests.get(
        f"{locked_api}{response.json()['status_url']}", headers=other, timeout=10
    )
    assert_error(stranger, 404, "job_not_found")
