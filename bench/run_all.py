"""Runs every benchmark and writes ``docs/BENCHMARKS.md`` (figures) and ``docs/benchmarks.png``.

Each section runs in its own process (``python -m bench.<section>``) so that one
section's imports, heap and threads do not colour the next; each prints its
figures as it goes and leaves its JSON in ``bench/.cache/results/``. The
findings (``docs/BENCHMARKS.md`` below the generated part) are kept: only the
part between the two markers is rewritten.

Run: ``make bench`` or ``.venv/bin/python -m bench.run_all [--quick] [--only SECTION ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import host, images

ROOT = Path(__file__).resolve().parent.parent
RESULTS = images.CACHE / "results"
SECTIONS = (
    "pipeline",
    "engine",
    "memory",
    "e2e",
    "job_cpu",
    "api",
    "coldstart",
    "encoders",
    "smartcrop",
    "text",
    "png_decode",
)
DOC = ROOT / "docs" / "BENCHMARKS.md"
CHART = ROOT / "docs" / "benchmarks.png"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"

SECTION_RUNNER = """
import json, sys
from bench import {name} as section
result = section.run(quick={quick})
open(sys.argv[1], "w").write(json.dumps(result, indent=2))
"""


def machine() -> dict[str, Any]:
    import PIL
    import pyvips

    return {
        "nproc": os.cpu_count(),
        "cpu": host.cpu_model(),
        "ram_bytes": host.ram_bytes(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "load_before": os.getloadavg(),
    }


def _busy_cores(seconds: float = 1.0) -> float:
    """How many cores were busy over ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def wait_for_quiet(limit: float = 0.3, timeout: float = 120.0) -> float:
    """Wait (up to ``timeout``) until other work on the machine uses under ``limit`` cores.

    On a shared machine another process's burst lands in whichever figure is being
    measured; waiting for a quiet moment keeps that out. Returns the last reading.
    """
    deadline = time.monotonic() + timeout
    busy = _busy_cores()
    while busy > limit and time.monotonic() < deadline:
        busy = _busy_cores()
    if busy > limit:
        print(f"   (the machine stayed busy: {busy:.2f} cores in use by others)", flush=True)
    return busy


def run_section(name: str, quick: bool) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    busy = wait_for_quiet()
    print(f"== {name} (other load before: {busy:.2f} cores)", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", SECTION_RUNNER.format(name=name, quick=quick), str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        # The service logs JSON lines (and EMF metrics); the figures are the rest.
        if not line.startswith("{"):
            print("   " + line.rstrip(), flush=True)
    if process.wait() != 0:
        raise SystemExit(f"bench section {name} failed")
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    result = dict(json.loads(out.read_text()))
    result["_busy_before"] = round(busy, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    for key in images.KEYS:
        images.get(key)  # generate the inputs before anything is timed
    info = machine()
    started = time.monotonic()
    results: dict[str, Any] = {}
    for name in args.only or SECTIONS:
        results[name] = run_section(name, args.quick)
    for name in SECTIONS:
        if name not in results and (RESULTS / f"{name}.json").exists():
            results[name] = json.loads((RESULTS / f"{name}.json").read_text())
    info["load_after"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - started)
    command = " ".join(["python -m bench.run_all", *sys.argv[1:]])
    if args.no_write:
        return
    from bench.report import chart, markdown

    figures = markdown(results, info, command)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(f"{head}{BEGIN}\n{figures}\n{END}{tail}")
    chart(results, CHART)
    print(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)} in {info['seconds']} s")


if __name__ == "__main__":
    main()
