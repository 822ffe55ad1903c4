"""CPU per image (every thread) and wall time: the service's imaging against pyvips, interleaved.

The targets of issue 27 are in CPU time, not wall time: on a 2-core machine shared
with other work, wall time says more about the neighbours than about the code, and
two cores do not give twice one. Each figure here is the CPU the whole process spent
(``time.process_time``: every thread, user and system) on one image, beside its
wall time, for:

- service: ``process_image`` with default options and no text (thumbnail 512 and
  preview 1280 JPEG q85, facts: EXIF, dominant colours, perceptual hash);
- job: what a worker does for a 12 MP job with its text: ``process_image`` with the
  text (so the captioned third output too) and ``analyze_text``; the workers' CPU
  target is set against pyvips making the two renditions;
- pyvips: ``thumbnail_buffer`` to 1280 (shrink-on-load), the 512 from it, both
  ``jpegsave`` Q=85 (``bench.pipeline.vips``), in the same process.

Rounds are interleaved (service, pyvips, then pyvips, service...), after one warm-up
run of each; the best of the rounds is reported (the least disturbed by the
neighbours), with the median beside it. Run it in the development venv and inside the
worker image (``--docker``: a derived image with pyvips, this module mounted):

    .venv/bin/python -m bench.engine                 # the venv's engine
    .venv/bin/python -m bench.engine --docker        # the worker image's engine (and SSE4)
    .venv/bin/python -m bench.engine --json          # figures as JSON

``make bench`` runs it as its ``engine`` section (``run``): the venv, then the image
when a Docker engine answers and ``media-jobs-worker:local`` is built.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import images
from bench.pipeline import TEXT, service, vips

REPO = Path(__file__).resolve().parent.parent
WORKER_IMAGE = "media-jobs-worker:local"
BENCH_IMAGE = "media-jobs-worker-bench:local"
KEYS = ("jpeg12", "jpeg50", "png2", "gif")
# The targets of issue 27: service CPU / pyvips CPU per image, at most.
TARGETS = {"jpeg12": 0.8, "jpeg50": 0.9, "gif": 0.8, "png2": 1.0, "job12": 1.2}


def job(data: bytes) -> int:
    """A worker's imaging and text work for one job with a text (three outputs)."""
    from worker.text.analysis import analyze_text

    analyze_text(TEXT)
    return service(data, TEXT)


def measure(func: Callable[[bytes], int], data: bytes) -> tuple[float, float]:
    """(CPU ms over every thread of this process, wall ms) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    func(data)
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def compare(data: bytes, ours: Callable[[bytes], int], rounds: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "vips": []}
    runs = {"ours": ours, "vips": vips}
    for func in runs.values():
        func(data)  # warm: imports, fonts, models, libvips start-up
    for round_ in range(rounds):
        order = ("ours", "vips") if round_ % 2 == 0 else ("vips", "ours")
        for name in order:
            samples[name].append(measure(runs[name], data))
    return {
        name: {
            "cpu_ms": min(cpu for cpu, _ in values),
            "cpu_median_ms": statistics.median(cpu for cpu, _ in values),
            "wall_ms": min(wall for _, wall in values),
            "wall_median_ms": statistics.median(wall for _, wall in values),
        }
        for name, values in samples.items()
    }


def engine_name() -> str:
    from worker.imaging.engine import current

    return current().describe()


def run_rows(rounds: int) -> dict[str, Any]:
    import pyvips

    pyvips.cache_set_max(0)
    results: dict[str, Any] = {
        "engine": engine_name(),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "python": platform.python_version(),
        "rows": {},
    }
    for key in KEYS:
        data = images.get(key).read()
        heavy = key == "jpeg50"
        results["rows"][key] = compare(data, service, max(3, rounds // 2) if heavy else rounds)
        results["rows"][key]["label"] = images.get(key).label
        print_row(key, results["rows"][key], file=sys.stderr)
    data = images.get("jpeg12").read()
    results["rows"]["job12"] = compare(data, job, rounds)
    results["rows"]["job12"]["label"] = "12 MP JPEG job with its text (3 outputs, text analysis)"
    print_row("job12", results["rows"]["job12"], file=sys.stderr)
    return results


def print_row(key: str, row: dict[str, Any], file: Any = sys.stdout) -> None:
    ours, ref = row["ours"], row["vips"]
    print(
        f"{key:7} CPU {ours['cpu_ms']:7.1f} ms vs pyvips {ref['cpu_ms']:7.1f} ms"
        f" = {ours['cpu_ms'] / ref['cpu_ms']:.2f}x (target <= {TARGETS[key]}x)"
        f" | wall {ours['wall_ms']:6.1f} vs {ref['wall_ms']:6.1f} ms"
        f" = {ours['wall_ms'] / ref['wall_ms']:.2f}x",
        file=file,
        flush=True,
    )


def markdown(results: dict[str, Any], where: str) -> str:
    lines = [
        f"{where}: {results['engine']}, libvips {results['libvips']}, Python {results['python']}",
        "",
        "| input | service CPU | pyvips CPU | CPU ratio | target | service wall | pyvips wall "
        "| wall ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in results["rows"].items():
        ours, ref = row["ours"], row["vips"]
        ratio = ours["cpu_ms"] / ref["cpu_ms"]
        lines.append(
            f"| {row['label']} | {ours['cpu_ms']:.1f} ms (median {ours['cpu_median_ms']:.1f}) "
            f"| {ref['cpu_ms']:.1f} ms (median {ref['cpu_median_ms']:.1f}) "
            f"| {ratio:.2f}x | <= {TARGETS[key]}x {'met' if ratio <= TARGETS[key] else 'NOT met'} "
            f"| {ours['wall_ms']:.1f} ms | {ref['wall_ms']:.1f} ms "
            f"| {ours['wall_ms'] / ref['wall_ms']:.2f}x |"
        )
    return "\n".join(lines)


def bench_image() -> str:
    """The worker image with pyvips added (the same pins as bench/requirements.txt)."""
    pins = [
        line.split("#")[0].strip()
        for line in (REPO / "bench" / "requirements.txt").read_text().splitlines()
        if line.strip().lower().startswith("pyvips")
    ]
    dockerfile = (
        f"FROM {WORKER_IMAGE}\nUSER root\n"
        f"RUN /opt/venv/bin/pip install --no-cache-dir {' '.join(pins)}\nUSER 10001:10001\n"
    )
    subprocess.run(
        ["docker", "build", "-q", "-t", BENCH_IMAGE, "-"],
        input=dockerfile,
        text=True,
        check=True,
        capture_output=True,
    )
    return BENCH_IMAGE


def in_docker(rounds: int, *env: str) -> dict[str, Any]:
    for key in KEYS:
        images.get(key)  # generated here, read there (the mount is read-only)
    argv = ["docker", "run", "--rm", "--network", "none"]
    for pair in env:
        argv += ["-e", pair]
    argv += [
        "-v",
        f"{REPO / 'bench'}:/app/bench:ro",
        bench_image(),
        "python",
        "-m",
        "bench.engine",
        "--rounds",
        str(rounds),
        "--json",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {done.returncode}\n{done.stderr[-3000:]}")
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout)


def docker_ready() -> str | None:
    """Why the worker image cannot be benchmarked here, or None when it can."""
    try:
        subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "no Docker engine answers"
    inspect = subprocess.run(
        ["docker", "image", "inspect", WORKER_IMAGE], capture_output=True, check=False
    )
    if inspect.returncode != 0:
        return f"no {WORKER_IMAGE} image (make test-compose builds it)"
    return None


def run(quick: bool = False) -> dict[str, Any]:
    """The section of ``make bench``: the venv's engine, then the worker image's (AVX2 and
    SSE4 builds) when a Docker engine answers and the image is built."""
    rounds = 5 if quick else 9
    results: dict[str, Any] = {"venv": None, "image": None, "image_sse4": None}
    with contextlib.redirect_stdout(sys.stderr):
        results["venv"] = run_rows(rounds)
    print(markdown(results["venv"], "development venv"), flush=True)
    why = docker_ready()
    if why is not None:
        results["image_skipped"] = why
        print(f"worker image not measured: {why}", flush=True)
        return results
    results["image"] = in_docker(rounds)
    print(markdown(results["image"], "worker image"), flush=True)
    results["image_sse4"] = in_docker(rounds, "PILLOW_SIMD_LEVEL=sse4")
    print(markdown(results["image_sse4"], "worker image, SSE4 build"), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--docker", action="store_true", help="inside the worker image (AVX2, then SSE4)"
    )
    args = parser.parse_args()
    if args.docker:
        for where, env in (
            ("worker image", ()),
            ("worker image, SSE4 build", ("PILLOW_SIMD_LEVEL=sse4",)),
        ):
            results = in_docker(args.rounds, *env)
            print(json.dumps(results) if args.json else markdown(results, where) + "\n")
        return
    with contextlib.redirect_stdout(sys.stderr):
        results = run_rows(args.rounds)
    print(json.dumps(results) if args.json else markdown(results, "development venv"))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
