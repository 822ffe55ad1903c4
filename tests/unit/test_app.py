"""The routes through Chalice's test client, over the job service on the fast tier's backends.

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
from chalicelib.api.service import JobService
from chalicelib.core.settings import Settings
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world

BOUNDARY = "fast-tier-boundary"


def serve(world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> FakeWorld:
    """Make the app use this world's backends."""
    service = JobService.from_backends(world.backends)
    monkeypatch.setattr(app_module, "_service", lambda: service)
    monkeypatch.setattr(app_module, "_backends", lambda: world.backends)
    monkeypatch.setattr(app_module, "_settings", lambda: world.backends.settings)
    return world


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWorld]:
    yield serve(fake_world(Settings.from_env({"API_KEYS": ""})), monkeypatch)


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
    serve(fake_world(Settings.from_env({"API_KEYS": "alpha,beta"})), monkeypatch)
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
    world.store.set_fields(job_id, updated_at="1.0", created_at="1.0")
    world.store.add_active(job_id, 1.0)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = client.lambda_.invoke("watch_queue", event).payload
    assert result["requeued"] == 1 and result["QueueLength"] == 0
    assert world.queue.enqueued == [job_id]


def keyed_world(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[FakeWorld, str, str]:
    """A world whose two stored tenants, alpha and beta, each have a key."""
    world = serve(
        fake_world(Settings.from_env({"STAGE": "dev", "WEBHOOK_SECRET": "s", **env})), monkeypatch
    )
    _, alpha = world.backends.tenants.create("alpha", "Alpha")
    _, beta = world.backends.tenants.create("beta", "Beta")
    return world, alpha, beta


def test_tenants_see_only_their_own_jobs_on_every_route(monkeypatch: pytest.MonkeyPatch) -> None:
    world, alpha, beta = keyed_world(monkeypatch)
    with Client(app_module.app) as client:
        fields = {"image": ("a.jpg", imagegen.jpeg(80, 60)), "text": (None, b"Hi")}
        job_id = json.loads(post_process(client, fields, **{"X-Api-Key": beta}).body)["job_id"]
        for key, expected in ((alpha, "job_not_found"), (None, "unauthorized")):
            headers = {"X-Api-Key": key} if key else {}
            assert error_code(client.http.get(f"/api/status/{job_id}", headers=headers)) == expected
            assert (
                error_code(client.http.delete(f"/api/jobs/{job_id}", headers=headers)) == expected
            )
        own = client.http.get(f"/api/status/{job_id}", headers={"X-Api-Key": beta})
        assert own.status_code == 200
        # The same Idempotency-Key names different jobs for different tenants.
        first = post_process(client, fields, **{"X-Api-Key": alpha, "Idempotency-Key": "k"})
        second = post_process(client, fields, **{"X-Api-Key": beta, "Idempotency-Key": "k"})
        assert json.loads(first.body)["job_id"] != json.loads(second.body)["job_id"]
        # Another tenant's upload cannot start a job.
        upload = client.http.post(
            "/api/uploads",
            headers={"Content-Type": "application/json", "X-Api-Key": beta},
            body=json.dumps({"filename": "a.jpg", "content_type": "image/jpeg", "size": 9}),
        )
        upload_id = json.loads(upload.body)["upload_id"]
        world.objects.put(world.objects.incoming_key(upload_id), imagegen.jpeg(), "image/jpeg")
        stolen = client.http.post(
            "/api/process",
            headers={"Content-Type": "application/json", "X-Api-Key": alpha},
            body=json.dumps({"upload_id": upload_id, "text": "mine now"}),
        )
        assert error_code(stolen) == "upload_not_found"


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        ({"requests_per_second": 1, "burst": 1}, "requests_per_second"),
        ({"jobs_in_flight": 0}, "jobs_in_flight"),
        ({"work_seconds_per_hour": 0}, "work_seconds_per_hour"),
    ],
)
def test_each_limit_answers_429_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, limits: dict[str, float], limit: str
) -> None:
    world, _, _ = keyed_world(monkeypatch)
    _, key = world.backends.tenants.create("tight", "Tight", limits)
    fields = {"image": ("a.jpg", imagegen.jpeg(80, 60)), "text": (None, b"Hi")}
    with Client(app_module.app) as client:
        answers = [post_process(client, fields, **{"X-Api-Key": key}) for _ in range(2)]
    refused = answers[-1]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.body)["error"]["limit"] == limit


def test_heavy_jobs_in_flight_are_limited_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    world, _, _ = keyed_world(monkeypatch)
    _, key = world.backends.tenants.create("tight", "Tight", {"heavy_jobs_in_flight": 0})
    heavy = json.dumps({"renditions": [{"name": "a", "width": 2000, "format": "avif"}]}).encode()
    image = imagegen.jpeg(2400, 1800)
    with Client(app_module.app) as client:
        refused = post_process(
            client,
            {"image": ("a.jpg", image), "text": (None, b"x"), "options": (None, heavy)},
            **{"X-Api-Key": key},
        )
        assert json.loads(refused.body)["error"]["limit"] == "heavy_jobs_in_flight"
        light = post_process(
            client, {"image": ("a.jpg", image), "text": (None, b"x")}, **{"X-Api-Key": key}
        )
        assert light.status_code == 202


def test_a_job_over_the_work_cap_is_refused_naming_the_figures(client: Any) -> None:
    renditions = [
        {"name": f"r{i}", "width": 2000, "height": 2000, "fit": "cover", "format": "avif"}
        for i in range(8)
    ]
    options = json.dumps({"renditions": renditions, "caption": {"enabled": False}}).encode()
    response = post_process(
        client,
        {
            "image": ("a.png", imagegen.png_with_alpha(16, 16)),
            "text": (None, b""),
            "options": (None, options),
        },
    )
    error = json.loads(response.body)["error"]
    assert response.status_code == 422 and error["code"] == "invalid_options"
    assert error["work_ms"] > error["max_work_ms"] and "s of work" in error["message"]


def test_the_limits_route_shows_limits_and_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    world, alpha, _ = keyed_world(monkeypatch)
    with Client(app_module.app) as client:
        post_process(
            client,
            {"image": ("a.jpg", imagegen.jpeg()), "text": (None, b"x")},
            **{"X-Api-Key": alpha},
        )
        body = json.loads(client.http.get("/api/limits", headers={"X-Api-Key": alpha}).body)
    assert body["tenant"] == "alpha" and body["usage"]["jobs_in_flight"] == 1
    assert body["limits"]["jobs_in_flight"] == world.backends.settings.tenant_jobs_in_flight


def test_the_version_is_written_once(client: Any) -> None:
    from chalicelib.api.openapi import openapi_document
    from chalicelib.core.version import VERSION

    assert json.loads(client.http.get("/api/health").body)["version"] == VERSION
    assert openapi_document(Settings()).get("info", {}).get("version") == VERSION


def test_the_job_listing_route(client: Any) -> None:
    fields = {"image": ("a.jpg", imagegen.jpeg()), "text": (None, b"x")}
    ids = [json.loads(post_process(client, fields).body)["job_id"] for _ in range(3)]
    page = json.loads(client.http.get("/api/jobs?limit=2").body)
    assert [job["job_id"] for job in page["jobs"]] == ids[::-1][:2]
    rest = json.loads(client.http.get(f"/api/jobs?cursor={page['next_cursor']}").body)
    assert [job["job_id"] for job in rest["jobs"]] == ids[:1] and rest["next_cursor"] is None
    assert error_code(client.http.get("/api/jobs?status=done")) == "invalid_request"
    assert error_code(client.http.get("/api/jobs?limit=x")) == "invalid_request"


def test_a_body_too_large_points_to_the_upload_route(client: Any, world: FakeWorld) -> None:
    limit = world.backends.settings.max_upload_bytes
    fields = {"image": ("a.jpg", b"\xff\xd8\xff" + b"\0" * limit), "text": (None, b"x")}
    response = post_process(client, fields)
    assert response.status_code == 413
    assert "POST /api/uploads" in json.loads(response.body)["error"]["message"]


def test_the_page_allows_the_text_the_api_allows(client: Any, world: FakeWorld) -> None:
    page = client.http.get("/").body.decode()
    assert f'maxlength="{world.backends.settings.max_text_chars}"' in page
    assert 'href="docs"' in page and 'rel="icon"' in page


def test_health_names_the_imaging_engines_the_workers_reported(
    client: Any, world: FakeWorld
) -> None:
    simd = {"engine": "pillow-simd", "version": "12.1.1.post0", "simd": "sse4"}
    world.backends.workers.record("worker@a", simd)
    body = json.loads(client.http.get("/api/health").body)
    assert body["workers"] == {"imaging_engines": ["pillow-simd 12.1.1.post0 (sse4)"]}
