"""Limits and fairness on the live stack (two workers, one of them light-only): a tenant's
heavy flood is cut at its heavy limit, and even with that limit raised it cannot hold
back another tenant's small job; the hourly work limit answers 429 like the others."""

from __future__ import annotations

import time
from typing import Any

from bench.images import photo
from chalicelib.core.settings import Settings
from chalicelib.media.cost import job_cost
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import parse_options
from scripts.devstack.stack import DevStack
from tests.support import imagegen
from tests.support.helpers import assert_error
from tests.support.tenant_client import PRODUCTION

# The bound the issue states for a small job during another tenant's flood, on two workers.
SMALL_JOB_BOUND_S = 3.0
FLOOD = 10
# About 1.7 s of work each by the cost model: heavy (over HEAVY_JOB_WORK_MS).
HEAVY_OPTIONS = {
    "renditions": [{"name": "big", "width": 2000, "format": "avif"}],
    "caption": {"enabled": False},
}
HEAVY_IMAGE = (2400, 1800)


def heavy_image() -> bytes:
    """A photo-like picture: AVIF's encoder is far quicker on flat synthetic ones."""
    return imagegen.encoded(photo(*HEAVY_IMAGE, seed=3), "JPEG", quality=90)


def test_the_flood_is_heavy_by_the_cost_model(stack: DevStack) -> None:
    settings = Settings.from_env(stack.env)
    header = ImageHeader("jpeg", *HEAVY_IMAGE)
    price = job_cost(header, parse_options(HEAVY_OPTIONS), True).total_ms
    assert settings.heavy_job_work_ms < price < settings.max_job_work_ms


def test_a_heavy_flood_is_cut_at_the_tenants_heavy_limit(tenant: Any) -> None:
    flood = tenant("flood-default")
    image = heavy_image()
    answers = [
        flood.submit(image, HEAVY_OPTIONS) for _ in range(PRODUCTION["heavy_jobs_in_flight"] + 1)
    ]
    accepted = [a for a in answers if a.status_code == 202]
    assert len(accepted) == PRODUCTION["heavy_jobs_in_flight"]
    error = assert_error(answers[-1], 429, "rate_limited")
    assert error["limit"] == "heavy_jobs_in_flight" and int(answers[-1].headers["Retry-After"]) >= 1
    # A light job of the same tenant is still admitted: only its heavy share is full.
    light = flood.submit(imagegen.jpeg(800, 600))
    assert light.status_code == 202, light.text
    for answer in [*accepted, light]:
        assert flood.wait(answer.json()["job_id"], 120)["status"] == "completed"


def test_another_tenants_small_job_is_not_held_back_by_a_heavy_flood(tenant: Any) -> None:
    flood = tenant("flood", heavy_jobs_in_flight=FLOOD, jobs_in_flight=FLOOD + 5)
    small = tenant("small")
    image = heavy_image()
    started = time.monotonic()
    flooded = [flood.submit(image, HEAVY_OPTIONS) for _ in range(FLOOD)]
    assert [a.status_code for a in flooded] == [202] * FLOOD
    time.sleep(0.5)  # the flood is being worked on
    submitted = time.monotonic()
    answer = small.submit(imagegen.jpeg(1200, 900))
    assert answer.status_code == 202, answer.text
    body = small.wait(answer.json()["job_id"], 60)
    waited = time.monotonic() - submitted
    pending = sum(flood.status(a.json()["job_id"])["status"] == "pending" for a in flooded)
    ends = [flood.wait(a.json()["job_id"], 300) for a in flooded]
    flood_took = time.monotonic() - started
    print(
        f"\nfairness: a small job of another tenant ended in {waited:.2f} s "
        f"(bound {SMALL_JOB_BOUND_S:g} s) while {pending} of {FLOOD} heavy jobs were still "
        f"queued; the flood took {flood_took:.1f} s in all"
    )
    assert body["status"] == "completed"
    assert [e["status"] for e in ends] == ["completed"] * FLOOD
    # Measured, and the point of the light queue: without it the small job would wait
    # behind the whole backlog.
    assert pending > 0, "the flood was still queued while the small job ran"
    assert waited < SMALL_JOB_BOUND_S


def test_the_hourly_work_limit_answers_429_until_the_hour_ends(tenant: Any) -> None:
    # About 0.7 s of work a job: the second would take this hour's work over 1 s.
    options = {"renditions": [{"name": "a", "width": 1200, "format": "avif"}]}
    frugal = tenant("frugal", work_seconds_per_hour=1)
    if 3600 - time.time() % 3600 < 30:  # both jobs in the same clock hour
        time.sleep(3600 - time.time() % 3600 + 1)
    first = frugal.submit(imagegen.jpeg(1600, 1200), options)
    assert first.status_code == 202, first.text
    assert frugal.wait(first.json()["job_id"], 60)["status"] == "completed"
    second = frugal.submit(imagegen.jpeg(1600, 1200), options)
    error = assert_error(second, 429, "rate_limited")
    assert error["limit"] == "work_seconds_per_hour"
    assert 1 <= int(second.headers["Retry-After"]) <= 7200  # a sliding hour
