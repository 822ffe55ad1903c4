"""Presets and batches on the live stack (moto's S3 over HTTP, real Redis, two real
workers, the API over HTTP): a preset used by name, an unknown one refused before
anything is stored, a batch reported by one signed webhook, a large batch fed under a
tenant's limit without holding back another tenant, a batch's DELETE, isolation."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from chalicelib.webhooks.signature import verify_webhook
from scripts.devstack.stack import DevStack
from tests.integration.test_openapi import check
from tests.support import imagegen
from tests.support.helpers import assert_error
from tests.support.tenant_client import TenantClient, make_tenant

WEB = {
    "renditions": [{"name": "web", "width": 160, "format": "webp"}],
    "caption": {"enabled": False},
}
# A small job of another tenant ends within this while a 60-job batch is being fed.
SINGLE_JOB_BOUND_S = 10.0


@pytest.fixture(scope="module")
def backends(stack: DevStack) -> Backends:
    return Backends.from_settings(Settings.from_env(stack.env))


@pytest.fixture(scope="module")
def document(stack: DevStack) -> dict[str, Any]:
    return dict(requests.get(f"{stack.api_url}/api/openapi.json", timeout=10).json())


def tenant(stack: DevStack, backends: Backends, name: str, **limits: float) -> TenantClient:
    return make_tenant(stack.api_url, backends, name, **limits)


def put_preset(client: TenantClient, name: str, options: dict[str, Any]) -> requests.Response:
    return client.http.put(
        f"{client.base}/api/presets/{name}", json={"options": options}, timeout=10
    )


def post_batch(client: TenantClient, images: list[bytes], **fields: str) -> requests.Response:
    files = [("image", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    return client.http.post(f"{client.base}/api/batches", files=files, data=fields, timeout=60)


def upload(client: TenantClient, image: bytes) -> str:
    """A direct upload through a presigned POST; its id."""
    form = client.http.post(
        f"{client.base}/api/uploads",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(image)},
        timeout=10,
    )
    assert form.status_code == 201, form.text
    made = form.json()
    posted = requests.post(
        made["url"], data=made["fields"], files={"file": ("a.jpg", image)}, timeout=30
    )
    assert posted.status_code < 300, posted.text
    return str(made["upload_id"])


def batch_of(client: TenantClient, batch_id: str, **query: str) -> dict[str, Any]:
    answer = client.http.get(f"{client.base}/api/batches/{batch_id}", params=query, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_batch(client: TenantClient, batch_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = batch_of(client, batch_id)
        if body["status"] in ("completed", "failed", "partial"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not end in {timeout} s: {body['counts']}")


class Receiver(http.server.BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[str]:
    Receiver.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def stored_counts(stack: DevStack, backends: Backends, s3: Any, bucket: str) -> tuple[int, int]:
    """Job records of this stack in Redis, and objects in its bucket."""
    prefix = stack.env.get("REDIS_KEY_PREFIX", "")
    records = sum(1 for _ in backends.redis.scan_iter(match=f"{prefix}job:*", count=1000))
    objects = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    return records, int(objects)


def test_a_preset_made_once_is_used_by_name_and_its_renditions_come_out(
    stack: DevStack, backends: Backends, document: dict[str, Any]
) -> None:
    client = tenant(stack, backends, "presets")
    made = put_preset(client, "web", WEB)
    check(document, "/api/presets/{name}", "put", made)
    assert made.status_code == 200 and made.json()["options"] == WEB
    listed = client.http.get(f"{client.base}/api/presets", timeout=10)
    check(document, "/api/presets", "get", listed)
    assert [p["name"] for p in listed.json()["presets"]] == ["web"]
    answer = client.http.post(
        f"{client.base}/api/process",
        files={"image": ("a.jpg", imagegen.jpeg(640, 480))},
        data={"text": "by name", "preset": "web"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    body = client.wait(answer.json()["job_id"], 60)
    assert body["status"] == "completed" and body["preset"] == "web"
    outputs = {o["name"]: o for o in body["result"]["outputs"]}
    assert set(outputs) == {"web"}  # the preset's renditions, its caption off
    assert outputs["web"]["format"] == "webp" and outputs["web"]["width"] == 160
    assert requests.get(outputs["web"]["url"], timeout=10).content[8:12] == b"WEBP"
    gone = client.http.delete(f"{client.base}/api/presets/web", timeout=10)
    check(document, "/api/presets/{name}", "delete", gone)
    check(
        document,
        "/api/presets/{name}",
        "get",
        client.http.get(f"{client.base}/api/presets/web", timeout=10),
    )


def test_an_unknown_preset_is_refused_before_anything_is_stored(
    stack: DevStack, backends: Backends, s3: Any, bucket: str, document: dict[str, Any]
) -> None:
    client = tenant(stack, backends, "unknown-preset")
    before = stored_counts(stack, backends, s3, bucket)
    single = client.http.post(
        f"{client.base}/api/process",
        files={"image": ("a.jpg", imagegen.jpeg(320, 240))},
        data={"text": "x", "preset": "nope"},
        timeout=30,
    )
    check(document, "/api/process", "post", single)
    assert assert_error(single, 422, "unknown_preset")["field"] == "preset"
    batch = post_batch(client, [imagegen.jpeg(320, 240)] * 2, preset="nope")
    check(document, "/api/batches", "post", batch)
    assert_error(batch, 422, "unknown_preset")
    assert stored_counts(stack, backends, s3, bucket) == before


def test_a_multipart_batch_with_a_preset_and_a_callback_sends_one_signed_webhook(
    stack: DevStack, backends: Backends, receiver: str, document: dict[str, Any]
) -> None:
    client = tenant(stack, backends, "album")
    assert put_preset(client, "web", WEB).status_code == 200
    images = [imagegen.jpeg(400 + 40 * i, 300) for i in range(3)]
    answer = post_batch(client, images, text="album", preset="web", callback_url=receiver)
    check(document, "/api/batches", "post", answer)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert len(accepted["jobs"]) == 3
    check(
        document,
        "/api/batches/{batch_id}",
        "get",
        client.http.get(f"{client.base}{accepted['status_url']}", timeout=10),
    )
    ended = wait_batch(client, accepted["batch_id"], 90)
    assert ended["status"] == "completed" and ended["counts"]["completed"] == 3
    assert ended["preset"] == "web"
    deadline = time.monotonic() + 30
    while not Receiver.calls and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # no second call comes: not the jobs' own, not a repeat
    assert len(Receiver.calls) == 1
    headers, body = Receiver.calls[0]
    # Signed with the tenant's own secret, as its jobs' webhooks are.
    record = backends.tenants.authenticate(str(client.http.headers["X-Api-Key"]))
    payload = verify_webhook(record.webhook_secrets(backends.settings)[0], headers, body)
    assert payload["batch_id"] == accepted["batch_id"]
    assert headers["X-Batch-Id"] == accepted["batch_id"]
    assert payload["status"] == "completed" and payload["counts"]["completed"] == 3
    assert [j["job_id"] for j in payload["jobs"]] == accepted["jobs"]
    assert all(j["status"] == "completed" for j in payload["jobs"])
    for job_id in accepted["jobs"]:
        job = client.status(job_id)
        assert job["batch_id"] == accepted["batch_id"] and job["preset"] == "web"
        assert [o["name"] for o in job["result"]["outputs"]] == ["web"]


def test_a_60_image_batch_under_a_limit_of_20_completes_without_holding_back_another_tenant(
    stack: DevStack, backends: Backends
) -> None:
    album = tenant(stack, backends, "big-album", jobs_in_flight=20)
    other = tenant(stack, backends, "neighbour")
    image = imagegen.jpeg(320, 240)
    items = [{"upload_id": upload(album, image), "text": f"photo {i}"} for i in range(60)]
    started = time.monotonic()
    answer = album.http.post(
        f"{album.base}/api/batches",
        json={"items": items, "options": WEB},
        headers={"Idempotency-Key": "big-album-1"},
        timeout=120,
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    # Feeding, not flooding: no more than the tenant's batch slots are in flight.
    limits = album.http.get(f"{album.base}/api/limits", timeout=10).json()
    assert limits["usage"]["jobs_in_flight"] <= 16
    # A repeat of the request is the same batch.
    again = album.http.post(
        f"{album.base}/api/batches",
        json={"items": items, "options": WEB},
        headers={"Idempotency-Key": "big-album-1"},
        timeout=120,
    )
    assert again.status_code == 202 and again.json()["batch_id"] == accepted["batch_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    submitted = time.monotonic()
    single = other.submit(imagegen.jpeg(640, 480))
    assert single.status_code == 202, single.text
    body = other.wait(single.json()["job_id"], 60)
    waited = time.monotonic() - submitted
    during = batch_of(album, accepted["batch_id"])
    ended = wait_batch(album, accepted["batch_id"], 300)
    took = time.monotonic() - started
    print(
        f"\nbatch of 60 under a limit of 20: ended in {took:.1f} s; another tenant's job "
        f"ended in {waited:.2f} s with {during['counts']['pending']} of the batch pending"
    )
    assert body["status"] == "completed"
    assert ended["status"] == "completed" and ended["counts"]["completed"] == 60
    assert during["counts"]["pending"] > 0, "the batch was still being fed"
    assert waited < SINGLE_JOB_BOUND_S
    first = batch_of(album, accepted["batch_id"], limit="100")
    assert len(first["jobs"]) == 60 and first["next_cursor"] is None
    paged = batch_of(album, accepted["batch_id"], limit="50")
    rest = batch_of(album, accepted["batch_id"], limit="50", cursor=paged["next_cursor"])
    assert [j["job_id"] for j in paged["jobs"] + rest["jobs"]] == accepted["jobs"]
    limits = album.http.get(f"{album.base}/api/limits", timeout=10).json()
    assert limits["usage"]["jobs_in_flight"] == 0


def test_deleting_a_batch_makes_its_jobs_404_and_another_tenant_sees_nothing(
    stack: DevStack, backends: Backends, document: dict[str, Any]
) -> None:
    owner = tenant(stack, backends, "owner", jobs_in_flight=2)
    stranger = tenant(stack, backends, "stranger")
    assert put_preset(owner, "web", WEB).status_code == 200
    answer = post_batch(owner, [imagegen.jpeg(320, 240)] * 4, preset="web")
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    path = f"/api/batches/{accepted['batch_id']}"
    # Another tenant: the batch, its jobs and the preset do not exist.
    assert_error(stranger.http.get(f"{stranger.base}{path}", timeout=10), 404, "batch_not_found")
    assert_error(stranger.http.delete(f"{stranger.base}{path}", timeout=10), 404, "batch_not_found")
    gone_preset = stranger.http.get(f"{stranger.base}/api/presets/web", timeout=10)
    assert_error(gone_preset, 404, "preset_not_found")
    assert stranger.http.get(f"{stranger.base}/api/presets", timeout=10).json() == {"presets": []}
    refused = stranger.http.post(
        f"{stranger.base}/api/process",
        files={"image": ("a.jpg", imagegen.jpeg(100, 100))},
        data={"text": "x", "preset": "web"},
        timeout=30,
    )
    assert_error(refused, 422, "unknown_preset")
    for job_id in accepted["jobs"]:
        assert_error(
            stranger.http.get(f"{stranger.base}/api/status/{job_id}", timeout=10),
            404,
            "job_not_found",
        )
    deleted = owner.http.delete(f"{owner.base}{path}", timeout=60)
    check(document, "/api/batches/{batch_id}", "delete", deleted)
    assert deleted.status_code == 204
    for job_id in accepted["jobs"]:
        assert_error(
            owner.http.get(f"{owner.base}/api/status/{job_id}", timeout=10), 404, "job_not_found"
        )
    gone = owner.http.get(f"{owner.base}{path}", timeout=10)
    check(document, "/api/batches/{batch_id}", "get", gone)
    assert_error(gone, 404, "batch_not_found")
    # What was running gives its place back once its worker stops.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        usage = owner.http.get(f"{owner.base}/api/limits", timeout=10).json()["usage"]
        if usage["jobs_in_flight"] == 0:
            break
        time.sleep(0.2)
    assert usage["jobs_in_flight"] == 0
    assert json.loads(json.dumps(usage))["presets"] == 1
