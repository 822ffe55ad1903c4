"""Tenants over the live stack: isolation on every route, single-use uploads, complete
deletion, and the cost cap (the worst accepted job still ends well within the soft limit)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench.images import photo
from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from chalicelib.media.cost import job_cost
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import parse_options
from scripts.devstack.stack import DevStack
from tests.support import imagegen
from tests.support.helpers import assert_error
from tests.support.stack_fixtures import ApiClient


@pytest.fixture(scope="module")
def backends(stack: DevStack) -> Backends:
    return Backends.from_settings(Settings.from_env(stack.env))


@pytest.fixture(scope="module")
def keys(backends: Backends) -> Iterator[dict[str, str]]:
    """Two stored tenants, alpha and beta, with a key each (ids unique to this run)."""
    run = uuid.uuid4().hex[:6]
    made = {}
    for name in ("alpha", "beta"):
        _, key = backends.tenants.create(f"{name}-{run}", name.title())
        made[name] = key
    yield made


class Tenant:
    """The API as one tenant sees it."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = key

    def submit(self, image: bytes, text: str = "x", **extra: Any) -> requests.Response:
        return self.http.post(
            f"{self.base}/api/process",
            files={"image": ("a.jpg", image, "application/octet-stream")},
            data={"text": text, **extra},
            timeout=30,
        )

    def status(self, job_id: str) -> requests.Response:
        return self.http.get(f"{self.base}/api/status/{job_id}", timeout=30)

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.status(job_id).json()
            if body["status"] in ("completed", "failed"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"{job_id} did not end")

    def upload(self, data: bytes) -> str:
        form = self.http.post(
            f"{self.base}/api/uploads",
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)},
            timeout=30,
        )
        assert form.status_code == 201, form.text
        upload = form.json()
        self.post_form(upload, data)
        return str(upload["upload_id"])

    @staticmethod
    def post_form(upload: dict[str, Any], data: bytes) -> None:
        posted = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("a.jpg", data, "image/jpeg")},
            timeout=30,
        )
        assert posted.status_code in (200, 201, 204), posted.text


@pytest.fixture(scope="module")
def alpha(api: str, keys: dict[str, str]) -> Tenant:
    return Tenant(api, keys["alpha"])


@pytest.fixture(scope="module")
def beta(api: str, keys: dict[str, str]) -> Tenant:
    return Tenant(api, keys["beta"])


def test_another_tenants_job_is_an_unknown_job_on_every_route(
    alpha: Tenant, beta: Tenant, client: ApiClient
) -> None:
    job_id = beta.submit(imagegen.jpeg(320, 240)).json()["job_id"]
    finished = beta.wait(job_id)
    assert finished["status"] == "completed"
    unknown = "0" * 32
    for stranger in (alpha, client.http):
        get = stranger.http.get if isinstance(stranger, Tenant) else stranger.get
        for path in (f"/api/status/{job_id}", f"/api/status/{unknown}"):
            assert_error(get(f"{alpha.base}{path}", timeout=30), 404, "job_not_found")
    assert_error(
        alpha.http.delete(f"{alpha.base}/api/jobs/{job_id}", timeout=30), 404, "job_not_found"
    )
    # The owner's links still work: nothing was deleted by the stranger.
    url = beta.status(job_id).json()["result"]["outputs"][0]["url"]
    assert requests.get(url, timeout=30).status_code == 200


def test_idempotency_keys_belong_to_their_tenant(alpha: Tenant, beta: Tenant) -> None:
    image = imagegen.jpeg(100, 80)
    a = alpha.http.post(
        f"{alpha.base}/api/process",
        files={"image": ("a.jpg", image)},
        data={"text": "x"},
        headers={"Idempotency-Key": "order-77"},
        timeout=30,
    )
    b = beta.http.post(
        f"{beta.base}/api/process",
        files={"image": ("a.jpg", image)},
        data={"text": "x"},
        headers={"Idempotency-Key": "order-77"},
        timeout=30,
    )
    assert a.status_code == b.status_code == 202
    assert a.json()["job_id"] != b.json()["job_id"]
    assert "Idempotent-Replayed" not in b.headers


def test_another_tenants_upload_cannot_start_a_job(alpha: Tenant, beta: Tenant) -> None:
    upload_id = beta.upload(imagegen.jpeg(300, 200))
    stolen = alpha.http.post(
        f"{alpha.base}/api/process", json={"upload_id": upload_id, "text": "mine"}, timeout=30
    )
    assert_error(stolen, 422, "upload_not_found")
    own = beta.http.post(
        f"{beta.base}/api/process", json={"upload_id": upload_id, "text": "mine"}, timeout=30
    )
    assert own.status_code == 202, own.text


def test_a_reused_upload_form_cannot_change_a_submitted_job(beta: Tenant) -> None:
    original = imagegen.jpeg(300, 200)
    form = beta.http.post(
        f"{beta.base}/api/uploads",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(original)},
        timeout=30,
    ).json()
    Tenant.post_form(form, original)
    job_id = beta.http.post(
        f"{beta.base}/api/process", json={"upload_id": form["upload_id"], "text": "x"}, timeout=30
    ).json()["job_id"]
    # The same form, again, with another picture of the same size in bytes.
    swapped = imagegen.jpeg(300, 200, quality=91)[: len(original)]
    Tenant.post_form(form, swapped)
    body = beta.wait(job_id)
    assert body["status"] == "completed"
    assert (body["result"]["image"]["width"], body["result"]["image"]["height"]) == (300, 200)
    again = beta.http.post(
        f"{beta.base}/api/process", json={"upload_id": form["upload_id"], "text": "x"}, timeout=30
    )
    assert_error(again, 409, "upload_already_used")


def test_a_job_deleted_while_it_runs_leaves_nothing(beta: Tenant, s3: Any, bucket: str) -> None:
    # Heavy enough to be caught running: a large AVIF rendition.
    options = '{"renditions": [{"name": "big", "width": 1600, "format": "avif"}]}'
    job_id = beta.submit(imagegen.jpeg(2000, 1500), options=options).json()["job_id"]
    deadline = time.monotonic() + 30
    while beta.status(job_id).json()["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert beta.http.delete(f"{beta.base}/api/jobs/{job_id}", timeout=30).status_code == 204
    # Whatever the worker still writes, it removes when it finds the record gone.
    left: list[str] = []
    for _ in range(40):
        time.sleep(0.5)
        left = [
            obj["Key"]
            for prefix in (f"results/{job_id}/", f"uploads/{job_id}/")
            for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        ]
    assert left == []
    assert_error(beta.status(job_id), 404, "job_not_found")


def test_the_worst_accepted_job_ends_well_within_the_soft_limit(
    beta: Tenant, stack: DevStack
) -> None:
    settings = Settings.from_env(stack.env)
    # Near the cap: eight 1.5 MP AVIF renditions (the costliest encoder) of a 6 MP photo.
    renditions = [
        {"name": f"r{i}", "width": 1500, "height": 1000, "format": "avif"} for i in range(8)
    ]
    options = {"renditions": renditions, "caption": {"enabled": False}}
    price = job_cost(ImageHeader("jpeg", 3000, 2000), parse_options(options), False).total_ms
    assert 0.5 * settings.max_job_work_ms < price <= settings.max_job_work_ms
    started = time.monotonic()
    # A photo-like picture: AVIF's encoder is far quicker on flat synthetic ones.
    image = imagegen.encoded(photo(3000, 2000, seed=5), "JPEG", quality=90)
    response = beta.submit(image, options=json.dumps(options))
    assert response.status_code == 202, response.text
    body = beta.wait(response.json()["job_id"], timeout=settings.task_soft_time_limit + 30)
    took = time.monotonic() - started
    print(
        f"\nworst accepted job: priced {price / 1000:.1f} s, took {took:.1f} s "
        f"(worker {body['result']['timings_ms']['total'] / 1000:.1f} s); "
        f"soft limit {settings.task_soft_time_limit} s"
    )
    assert body["status"] == "completed"


@pytest.fixture()
def limited(api: str, backends: Backends) -> Tenant:
    """A tenant of its own with small limits (the others keep the defaults)."""
    tenant, key = backends.tenants.create(f"gamma-{uuid.uuid4().hex[:6]}", "Gamma")
    backends.tenants.set_limits(
        tenant.tenant_id, {"requests_per_second": 1, "burst": 4, "jobs_in_flight": 1}
    )
    return Tenant(api, key)


def test_a_tenant_over_its_limits_gets_429_with_retry_after(limited: Tenant, alpha: Tenant) -> None:
    # About a second of work: still in flight when the second request comes.
    options = '{"renditions": [{"name": "a", "width": 1200, "format": "avif"}]}'
    first = limited.submit(imagegen.jpeg(1600, 1200), options=options)
    assert first.status_code == 202, first.text
    second = limited.submit(imagegen.jpeg(200, 150))
    error = assert_error(second, 429, "rate_limited")
    assert error["limit"] == "jobs_in_flight" and int(second.headers["Retry-After"]) >= 1
    # Its burst of requests is spent now: the API answers 429 before reading anything.
    answers = [limited.http.get(f"{limited.base}/api/limits", timeout=30) for _ in range(4)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    error = assert_error(refused[0], 429, "rate_limited")
    assert error["limit"] == "requests_per_second" and "Retry-After" in refused[0].headers
    # Another tenant is not slowed down by it.
    assert alpha.http.get(f"{alpha.base}/api/limits", timeout=30).status_code == 200
    time.sleep(int(refused[0].headers["Retry-After"]))
    limits = limited.http.get(f"{limited.base}/api/limits", timeout=30)
    assert limits.status_code == 200, limits.text
    assert limits.json()["limits"]["jobs_in_flight"] == 1
