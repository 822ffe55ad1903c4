"""Every job ends within its price, on the live stack (two workers, one light-only).

The issue's "done when": each hostile input whose real cost its header hides is either
refused at submit with a 4xx or ends (failed or completed) within 15 s of its submit,
and another tenant's 16x16 job submitted meanwhile completes within 5 s. The inputs
come from generators (``tests/support/imagegen.py``, ``textgen.py``): other members of
the same classes, not the issue's examples alone.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.backends import Backends
from tests.support import imagegen, textgen

# The bounds the issue states.
HOSTILE_BOUND_S = 15.0
SMALL_JOB_BOUND_S = 5.0


def _caption_case(seed: int) -> tuple[bytes, str, dict[str, Any]]:
    image = imagegen.encoded(imagegen.marked_image(3, 2000), "PNG")
    options = {"caption": {"max_font_size": 256, "size": 2000}}
    return image, textgen.mixed_direction(600, seed=seed), options


CASES = {
    "alternating-direction caption": lambda: ("multipart", *_caption_case(1)),
    "alternating-direction caption, spaced": lambda: (
        "multipart",
        imagegen.encoded(imagegen.marked_image(2000, 3), "PNG"),
        textgen.mixed_direction(600, seed=2, spaces=True),
        {"caption": {"max_font_size": 256, "size": 2000}},
    ),
    "30,000-scan progressive JPEG": lambda: (
        "multipart",
        imagegen.progressive_scan_bomb(4000, 3000, 30_000),
        "x",
        None,
    ),
    "2,000-scan progressive JPEG, scans past 64 KB of an upload": lambda: (
        "image/jpeg",
        imagegen.progressive_scan_bomb(3000, 2000, 2_000, gap_after_frame=70_000),
        "x",
        None,
    ),
    "40,000-page TIFF, chain past 64 KB of an upload": lambda: (
        "image/tiff",
        imagegen.tiff_page_chain(40_000, 70_000),
        "x",
        None,
    ),
    "looping TIFF page chain in an upload": lambda: (
        "image/tiff",
        imagegen.tiff_page_chain(3_000, 100_000, loop=True),
        "x",
        None,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_input_is_refused_or_ends_in_time_and_another_tenant_is_not_held(
    tenant: Any, case: str
) -> None:
    attacker, other = tenant("attacker"), tenant("other")
    how, image, text, options = CASES[case]()
    submitted = time.monotonic()
    if how == "multipart":
        answer = attacker.submit(image, options, text=text)
    else:
        answer = attacker.submit_upload(image, how)
    small = other.submit(imagegen.encoded(imagegen.marked_image(16, 16), "PNG"))
    small_submitted = time.monotonic()
    assert small.status_code == 202, small.text
    small_body = other.wait(small.json()["job_id"], 60)
    small_took = time.monotonic() - small_submitted
    if answer.status_code == 202:
        body = attacker.wait(answer.json()["job_id"], 120)
        took = time.monotonic() - submitted
        outcome = f"{body['status']} {(body.get('error') or {}).get('code', '')}".strip()
    else:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.json()["error"]["code"]
        took = time.monotonic() - submitted
        outcome = f"{answer.status_code} {answer.json()['error']['code']}"
    print(f"\n{case}: {outcome} in {took:.2f} s; another tenant's 16x16 job {small_took:.2f} s")
    assert took < HOSTILE_BOUND_S
    assert small_body["status"] == "completed"
    assert small_took < SMALL_JOB_BOUND_S


@pytest.mark.slow
def test_deleting_processing_jobs_never_lets_a_tenant_run_more_than_its_limit(
    tenant: Any, backends: Backends
) -> None:
    limited = tenant("limited", jobs_in_flight=1)
    _, text, options = _caption_case(3)
    outcomes = []
    for _ in range(4):
        answer = limited.submit(imagegen.jpeg(2000, 1500), options, text=text)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        deadline = time.monotonic() + 30
        while backends.store.lease_holder(job_id) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        deleted = limited.http.delete(f"{limited.base}/api/jobs/{job_id}", timeout=10)
        assert deleted.status_code in (200, 202, 204), deleted.text
        again = limited.submit(imagegen.jpeg(32, 32))
        if again.status_code == 202:
            # Admitted only once the deleted job's worker gave its place back: it has
            # stopped (its lease goes right after).
            outcomes.append("admitted after the worker stopped")
            until = time.monotonic() + 2
            while backends.store.lease_holder(job_id) and time.monotonic() < until:
                time.sleep(0.01)
            assert backends.store.lease_holder(job_id) is None
            limited.wait(again.json()["job_id"], 30)
        else:
            assert again.status_code == 429, again.text
            assert again.json()["error"]["limit"] == "jobs_in_flight"
            outcomes.append("refused while the worker still ran it")
            time.sleep(1)
    print(f"\ndeletes of processing jobs, then a second submit: {outcomes}")
