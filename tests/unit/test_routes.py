"""The routes through Chalice's test client, over the job service on in-memory fakes.

No server and no network: the request goes through Chalice's own event handling,
the app's middleware, the route and the service, and the answer is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.service import JobService
from chalicelib.settings import Settings
from tests import imagegen
from tests.fakes import FakeWorld, fake_world

BOUNDARY = "fast-tier-boundary"


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    world = fake_world(Settings.from_env({"API_KEYS": ""}))
    service = JobService.from_backends(world.backends)
    monkeypatch.setattr(app_module, "_service", lambda: service)
    monkeypatch.setattr(app_module, "_backends", lambda: world.backends)
    monkeypatch.setattr(app_module, "_settings", lambda: world.backends.settings)
    yield world


@pytest.fixture()
def client(world: FakeWorld) -> Iterator[Any]:
    with Client(app_module.app) as test_client:
        yield test_client


def multipart(fields: dict[str, tuple[str | None, bytes]]) -> bytes:
    parts = []
    for name, (filename, data) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data)
    return b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode()


def post_process(client: Any, fields: dict[str, tuple[str | None, bytes]], **headers: str) -> Any:
    return client.http.post(
        "/api/process",
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers},
        body=multipart(fields),
    )


def error_code(response: Any) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    return str(json.loads(response.body)["error"]["code"])


def test_submit_then_status(client: Any, world: FakeWorld) -> None:
    response = post_process(
        client, {"image": ("a.jpg", imagegen.jpeg(80, 60)), "text": (None, b"Hi")}
    )
    assert response.status_code == 202
    body = json.loads(response.body)
    assert response.headers["Location"] == body["status_url"]
    assert world.queue.enqueued == [body["job_id"]]
    status = client.http.get(body["status_url"])
    assert status.status_code == 200
    assert json.loads(status.body)["status"] == "pending"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"text": (None, b"Hi")}, 400, "missing_field"),
        ({"image": ("a.jpg", b"%PDF-1.4"), "text": (None, b"x")}, 415, "unsupported_image"),
        ({"image": ("a.jpg", imagegen.jpeg()), "text": (None, b"x\x00")}, 400, "invalid_text"),
        (
            {"image": ("a.jpg", imagegen.jpeg()), "text": (None, b"x"), "extra": (None, b"1")},
            400,
            "invalid_request",
        ),
        (
            {
                "image": ("a.jpg", imagegen.jpeg()),
                "text": (None, b"x"),
                "options": (None, b'{"bogus": 1}'),
            },
            422,
            "invalid_options",
        ),
    ],
)
def test_bad_submissions_get_their_code(
    client: Any,
    world: FakeWorld,
    fields: dict[str, tuple[str | None, bytes]],
    status: int,
    code: str,
) -> None:
    response = post_process(client, fields)
    assert (response.status_code, error_code(response)) == (status, code)
    assert world.queue.enqueued == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"upload_id": "' + b"0" * 32 + b'", "text": "\\ud800"}', "invalid_request"),
        (b"[" * 100 + b"]" * 100, "invalid_request"),
        (b'{"upload_id": "' + b"0" * 32 + b'", "text": "x"}', "upload_not_found"),
    ],
)
def test_json_submissions(client: Any, body: bytes, code: str) -> None:
    response = client.http.post(
        "/api/process", headers={"Content-Type": "application/json"}, body=body
    )
    assert error_code(response) == code


def test_ids_are_checked_whole(client: Any) -> None:
    assert error_code(client.http.get("/api/status/" + "a" * 32 + "%0A")) == "invalid_job_id"
    assert error_code(client.http.get("/api/status/" + "a" * 32)) == "job_not_found"
    assert error_code(client.http.delete("/api/jobs/bad")) == "invalid_job_id"


def test_api_keys_guard_every_route_but_health(
    client: Any, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env({"API_KEYS": "alpha,beta"})
    monkeypatch.setattr(app_module, "_settings", lambda: settings)
    assert error_code(client.http.get("/api/status/" + "a" * 32)) == "unauthorized"
    keyed = client.http.get("/api/status/" + "a" * 32, headers={"X-Api-Key": "beta"})
    assert error_code(keyed) == "job_not_found"
    assert client.http.get("/api/health").status_code == 200


def test_health_answers_503_naming_the_backend(client: Any, world: FakeWorld) -> None:
    world.store.down = True
    response = client.http.get("/api/health")
    assert response.status_code == 503
    assert json.loads(response.body)["checks"]["redis"] == "service_unavailable"


def test_wrong_method_is_the_json_shape(client: Any) -> None:
    assert error_code(client.http.put("/api/status/" + "a" * 32)) == "method_not_allowed"


def test_the_scheduled_watch_requeues_stuck_jobs(client: Any, world: FakeWorld) -> None:
    response = post_process(client, {"image": ("a.jpg", imagegen.jpeg()), "text": (None, b"x")})
    job_id = json.loads(response.body)["job_id"]
    world.queue.enqueued.clear()  # the task was lost
    world.store.records[job_id]["updated_at"] = world.store.records[job_id]["created_at"] = "1.0"
    world.store.active[job_id] = 1.0
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = client.lambda_.invoke("watch_queue", event).payload
    assert result["requeued"] == 1 and result["QueueLength"] == 0
    assert world.queue.enqueued == [job_id]
