"""Outputs encode on the imaging threads; a job that fails meanwhile reports nothing later."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chalicelib.core.errors import JobTimeout
from tests.support import imagegen
from worker.imaging.process import ImageLimits, RenderedOutput, process_image

LIMITS = ImageLimits(50_000_000, 20_000, 50)
OPTIONS = {
    "renditions": [
        {"name": "a", "width": 400, "format": "jpeg"},
        {"name": "b", "width": 200, "format": "png"},
        {"name": "c", "width": 300, "format": "webp"},
    ]
}


@contextmanager
def nullstage() -> Iterator[None]:
    yield


def test_every_output_is_reported_once_in_the_order_asked() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def report(output: RenderedOutput) -> None:
        with lock:
            seen.append(output.name)

    result = process_image(
        imagegen.jpeg(800, 600), "", OPTIONS, LIMITS, lambda _: nullstage(), on_output=report
    )
    assert [o.name for o in result.outputs] == ["a", "b", "c"]
    assert sorted(seen) == ["a", "b", "c"]


def test_a_job_failing_while_outputs_encode_reports_none_after_it_raised() -> None:
    """The deadline strikes at the facts stage while a slow receiver takes the first
    output: process_image waits for the running encodes before it raises."""
    seen: list[str] = []

    def slow(output: RenderedOutput) -> None:
        time.sleep(0.3)
        seen.append(output.name)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        if name == "facts":
            raise JobTimeout("the job's time is up")
        yield

    with pytest.raises(JobTimeout):
        process_image(imagegen.jpeg(800, 600), "", OPTIONS, LIMITS, stage, on_output=slow)
    reported = list(seen)
    time.sleep(0.8)
    assert seen == reported
