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
from chalicelib.api.batches import BatchService
from chalicelib.api.service import JobService
from chalicelib.core.settings import Settings
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world

BOUNDARY = "fast-tier-boundary"


def serve(world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> FakeWorld:
    """Make the app use this world's backends."""
    service = JobService.from_backends(world.backends)
    batches = BatchService.from_backends(world.backends, service)
    monkeypatch.setattr(app_module, "_service", lambda: service)
    monkeypatch.setattr(app_module, "_batch_service", lambda: batches)
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


def test_health_names_library_versions_only_to_a_caller_with_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, alpha, _ = keyed_world(monkeypatch)
    world.backends.workers.record("worker@a", {"engine": "pillow", "version": "13.0.0"})
    with Client(app_module.app) as client:
        anyone = json.loads(client.http.get("/api/health").body)
        tenant = json.loads(client.http.get("/api/health", headers={"X-Api-Key": alpha}).body)
    assert anyone["status"] == "ok" and "workers" not in anyone
    assert tenant["workers"] == {"imaging_engines": ["pillow 13.0.0"]}


# -- presets and batches ---------------------------------------------------------------

WEB = {"renditions": [{"name": "web", "width": 64, "format": "webp"}]}


def put_json(client: Any, path: str, body: Any) -> Any:
    return client.http.put(
        path, headers={"Content-Type": "application/json"}, body=json.dumps(body)
    )


def test_a_preset_is_made_read_listed_used_by_name_and_deleted(
    client: Any, world: FakeWorld
) -> None:
    made = put_json(client, "/api/presets/web", {"options": WEB})
    assert made.status_code == 200, made.body
    assert json.loads(made.body)["options"] == WEB
    assert json.loads(client.http.get("/api/presets/web").body)["name"] == "web"
    listed = json.loads(client.http.get("/api/presets").body)["presets"]
    assert [p["name"] for p in listed] == ["web"]
    limits = json.loads(client.http.get("/api/limits").body)
    assert limits["limits"]["presets"] == 50 and limits["usage"]["presets"] == 1
    response = post_process(
        client,
        {
            "image": ("a.jpg", imagegen.jpeg(80, 60)),
            "text": (None, b"Hi"),
            "preset": (None, b"web"),
            "options": (None, b'{"caption": {"enabled": false}}'),
        },
    )
    assert response.status_code == 202, response.body
    status = json.loads(client.http.get(json.loads(response.body)["status_url"]).body)
    assert status["preset"] == "web" and status["batch_id"] is None
    job = world.store.get(status["job_id"])
    assert job is not None and [r["name"] for r in job.options["renditions"]] == ["web"]
    assert job.options["caption"]["enabled"] is False
    assert client.http.delete("/api/presets/web").status_code == 204
    assert error_code(client.http.get("/api/presets/web")) == "preset_not_found"


def test_a_preset_is_put_as_get_gives_it_or_as_a_bare_options_document(client: Any) -> None:
    assert put_json(client, "/api/presets/web", WEB).status_code == 200
    got = json.loads(client.http.get("/api/presets/web").body)
    assert got["options"] == WEB
    again = put_json(client, "/api/presets/web", got)
    assert again.status_code == 200 and json.loads(again.body)["options"] == WEB


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/presets/Web", {"options": WEB}, 400, "invalid_preset_name"),
        ("/api/presets/" + "x" * 41, {"options": WEB}, 400, "invalid_preset_name"),
        (
            "/api/presets/web",
            {"options": {"renditions": [{"name": "x", "width": 0}]}},
            422,
            "invalid_options",
        ),
        ("/api/presets/web", {"options": "nope"}, 422, "invalid_options"),
        ("/api/presets/web", {"options": WEB, "x": 1}, 400, "invalid_request"),
        # A body without "options" is the options document itself.
        ("/api/presets/web", {"renditions": [{"name": "x", "width": 0}]}, 422, "invalid_options"),
        ("/api/presets/web", {"colour": "red"}, 422, "invalid_options"),
        ("/api/presets/Web", {"colour": "red"}, 400, "invalid_preset_name"),
        ("/api/presets/web", [1], 400, "invalid_request"),
    ],
)
def test_bad_presets_get_their_codes(
    client: Any, path: str, body: Any, status: int, code: str
) -> None:
    response = put_json(client, path, body)
    assert (response.status_code, error_code(response)) == (status, code)


def test_an_unknown_preset_is_refused_before_anything_is_stored(
    client: Any, world: FakeWorld
) -> None:
    for preset in (b"web", b"Not A Name"):
        response = post_process(
            client,
            {
                "image": ("a.jpg", imagegen.jpeg(80, 60)),
                "text": (None, b"Hi"),
                "preset": (None, preset),
            },
        )
        assert (response.status_code, error_code(response)) == (422, "unknown_preset")
    assert world.store.records == {} and world.objects.objects == {} and world.queue.enqueued == []


def post_batch(client: Any, fields: list[tuple[str, str | None, bytes]], **headers: str) -> Any:
    parts = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data)
    body = b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode()
    return client.http.post(
        "/api/batches",
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers},
        body=body,
    )


def test_a_multipart_batch_is_accepted_followed_and_deleted(client: Any, world: FakeWorld) -> None:
    fields = [("image", f"{i}.jpg", imagegen.jpeg(40 + i, 30)) for i in range(3)]
    response = post_batch(client, [*fields, ("text", None, b"album")])
    assert response.status_code == 202, response.body
    body = json.loads(response.body)
    assert response.headers["Location"] == body["status_url"] == f"/api/batches/{body['batch_id']}"
    assert len(body["jobs"]) == 3 and body["status"] == "pending"
    batch = json.loads(client.http.get(body["status_url"]).body)
    assert batch["total"] == 3 and [j["job_id"] for j in batch["jobs"]] == body["jobs"]
    job = json.loads(client.http.get(f"/api/status/{body['jobs'][0]}").body)
    assert job["batch_id"] == body["batch_id"]
    assert client.http.delete(body["status_url"]).status_code == 204
    for job_id in body["jobs"]:
        assert error_code(client.http.get(f"/api/status/{job_id}")) == "job_not_found"
    assert error_code(client.http.get(body["status_url"])) == "batch_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"items": []}, 400, "invalid_request"),
        ({"items": "x"}, 400, "invalid_request"),
        ({"items": [1]}, 400, "invalid_request"),
        ({"items": [{"text": "x"}]}, 400, "missing_field"),
        ({"items": [{"upload_id": "a" * 32, "x": 1}]}, 400, "invalid_request"),
        ({"items": [{"upload_id": "a" * 32}] * 501}, 400, "invalid_request"),
        ({"items": [{"upload_id": "a" * 32}]}, 422, "upload_not_found"),
        ({"items": [{"upload_id": "a" * 32}], "preset": "web"}, 422, "unknown_preset"),
        ({"items": [{"upload_id": "a" * 32}], "preset": 3}, 400, "invalid_request"),
        (
            {"items": [{"upload_id": "a" * 32}], "callback_url": "ftp://x"},
            422,
            "invalid_callback_url",
        ),
        ({"items": [{"upload_id": "a" * 32}], "options": {"x": 1}}, 422, "invalid_options"),
        ({"items": [{"upload_id": "a" * 32}], "other": 1}, 400, "invalid_request"),
    ],
)
def test_bad_json_batches_get_their_codes(
    client: Any, world: FakeWorld, body: Any, status: int, code: str
) -> None:
    response = client.http.post(
        "/api/batches", headers={"Content-Type": "application/json"}, body=json.dumps(body)
    )
    assert (response.status_code, error_code(response)) == (status, code), response.body
    assert world.store.records == {}


def test_bad_multipart_batches_get_their_codes(client: Any) -> None:
    cases = [
        ([("text", None, b"x")], 400, "missing_field"),
        ([("image", None, b"x")], 400, "invalid_request"),
        (
            [("image", "a.jpg", imagegen.jpeg(20, 20)), ("other", None, b"x")],
            400,
            "invalid_request",
        ),
        ([("image", "a.jpg", b"nope")], 415, "unsupported_image"),
        ([("image", "a.jpg", imagegen.jpeg(20, 20))] * 51, 400, "invalid_request"),
    ]
    for fields, status, code in cases:
        response = post_batch(client, fields)
        assert (response.status_code, error_code(response)) == (status, code), response.body


def test_malformed_and_unknown_batch_ids(client: Any) -> None:
    assert error_code(client.http.get("/api/batches/nope")) == "invalid_batch_id"
    assert error_code(client.http.get("/api/batches/" + "a" * 32)) == "batch_not_found"
    assert error_code(client.http.delete("/api/batches/" + "a" * 32)) == "batch_not_found"
