"""Metrics from many threads at once, as the local API server emits them (a thread per
request): every line must be whole and carry its own metric and properties."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.core.settings import Settings
from chalicelib.core.telemetry import emit_metrics


def test_concurrent_metrics_keep_each_line_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({})
    count = 1600

    def emit(i: int) -> None:
        emit_metrics(settings, {"JobsSubmitted": (1, "Count")}, job_id=f"job-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(emit, range(count)))  # raises if any call raised
    lines: list[dict[str, Any]] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()
    ]
    assert len(lines) == count
    assert sorted(line["job_id"] for line in lines) == sorted(f"job-{i}" for i in range(count))
    for line in lines:
        assert line["JobsSubmitted"] == [1.0], line
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert [m["Name"] for m in directive["Metrics"]] == ["JobsSubmitted"]


def test_a_metric_that_cannot_be_published_does_not_fail_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env({})
    # Powertools refuses a non-numeric value; the request that emitted it has done its work.
    emit_metrics(settings, {"JobsSubmitted": ("many", "Count")}, job_id="job-x")  # type: ignore[dict-item]
    assert any(r.getMessage() == "metric not published: JobsSubmitted" for r in caplog.records)
