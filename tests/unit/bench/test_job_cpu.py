"""bench/job_cpu.py's figures and verdicts, and bench/report.py's section for it."""

from __future__ import annotations

import json
from typing import Any

from bench import job_cpu, report


def _stats(value: float) -> dict[str, float]:
    return {"best": value, "median": value, "mean": value}


def _result(job_ms: float, vips_ms: float, worker: str) -> dict[str, Any]:
    figures = {
        "job_cpu_ms": _stats(100.0),
        "job_renditions_cpu_ms": _stats(90.0),
        "vips_cpu_ms": _stats(80.0),
        "job_ms": _stats(job_ms),
        "job_renditions_ms": _stats(job_ms - 10),
        "vips_ms": _stats(vips_ms),
    }
    return {
        "worker": worker,
        "rounds": 10,
        "idle_cpu_ms_per_s": 1.2,
        "figures": figures,
        "cpu_ratio": {k: 100.0 / 80.0 for k in ("best", "median", "mean")},
        "client_ratio": job_ms / vips_ms,
        "client_renditions_ratio": (job_ms - 10) / vips_ms,
    }


def test_the_table_says_which_target_is_met() -> None:
    page = job_cpu.markdown(_result(150.0, 80.0, "worker image"))
    assert "| workers' CPU, job with its text (3 outputs) | 100.0 | 100.0 | 100.0 |" in page
    assert "median 1.25x" in page and "missed at the median" in page
    assert "medians: 1.88x" in page and "target <= 2.0x: met" in page


def test_the_report_section_judges_the_image_when_it_was_measured() -> None:
    lines: list[str] = []
    targets: list[tuple[str, str, bool]] = []
    results = {"venv": _result(200.0, 80.0, "venv worker"), "image": _result(120.0, 80.0, "img")}
    report._job_cpu(results, lines.append, targets)
    assert "venv worker" in "\n".join(lines)
    assert [(value, ok) for _, value, ok in targets] == [("1.25x", False), ("1.50x", True)]
    assert all("(img)" in name for name, _, _ in targets)


def test_the_engine_is_read_from_the_workers_json_log() -> None:
    line = {
        "message": "worker ready",
        "imaging_engine": {"engine": "pillow-simd", "version": "12.1.1.post0", "simd": "avx2"},
    }
    logs = "not json\n" + json.dumps({"message": "x"}) + "\n" + json.dumps(line) + "\n"
    assert job_cpu._engine_named(logs) == "pillow-simd 12.1.1.post0 avx2"
    assert job_cpu._engine_named("nothing") == "engine not named"
