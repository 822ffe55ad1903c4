"""Cold start of the API: ``import app`` against ``import boto3`` alone, and the Lambda zip size.

Each import is timed in a fresh interpreter (``python -c``), several rounds, the
two taking turns, and the median and the best are kept: a Lambda cold start pays
exactly this once per container.
The zip is what ``chalice package --stage dev`` builds (app.py, chalicelib/ and
the wheels of requirements.txt); ``--pkg-format`` does not change the zip.

Run: ``.venv/bin/python -m bench.coldstart``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMER = (
    "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
)


def import_ms(modules: tuple[str, ...], repeat: int = 7) -> dict[str, dict[str, float]]:
    """Each module's import time in fresh interpreters, the modules taking turns in
    every round, so a busy moment of a shared machine weighs on all of them alike."""
    samples: dict[str, list[float]] = {module: [] for module in modules}
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(repeat + 1):
        for module in modules:
            out = subprocess.run(
                [sys.executable, "-c", TIMER.format(module=module)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            samples[module].append(float(out.stdout.strip().splitlines()[-1]))
    # The first round may still be filling the page cache.
    return {
        module: {"median_ms": statistics.median(s[1:]), "min_ms": min(s[1:])}
        for module, s in samples.items()
    }


def heaviest_imports(module: str, count: int = 8) -> list[tuple[str, float]]:
    """The top-level packages that cost the most under ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, float] = {}
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and "." not in match.group(3) and len(match.group(2)) <= 2:
            costs[match.group(3)] = max(costs.get(match.group(3), 0.0), int(match.group(1)) / 1000)
    return sorted(costs.items(), key=lambda kv: -kv[1])[:count]


def lambda_package() -> dict[str, Any]:
    """Size of the zip ``chalice package --stage dev`` builds, and its largest packages."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    with tempfile.TemporaryDirectory() as out:
        command = [str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev", out]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
        zip_path = Path(out) / "deployment.zip"
        if done.returncode != 0 or not zip_path.exists():
            return {"error": (done.stderr or done.stdout).strip()[-500:]}
        packages: dict[str, int] = {}
        with zipfile.ZipFile(zip_path) as archive:
            unzipped = 0
            for info in archive.infolist():
                top = info.filename.split("/")[0]
                packages[top] = packages.get(top, 0) + info.compress_size
                unzipped += info.file_size
        return {
            "zip_bytes": zip_path.stat().st_size,
            "unzipped_bytes": unzipped,
            "largest": sorted(packages.items(), key=lambda kv: -kv[1])[:6],
            "command": " ".join(["chalice", *command[1:-1], "<tmpdir>"]),
        }


def run(quick: bool = False) -> dict[str, Any]:
    repeat = 4 if quick else 7
    times = import_ms(("app", "boto3"), repeat)
    result = {
        "import_app": times["app"],
        "import_boto3": times["boto3"],
        "heaviest_app": heaviest_imports("app"),
        "package": lambda_package(),
    }
    app_ms, boto_ms = result["import_app"]["median_ms"], result["import_boto3"]["median_ms"]
    print(f"import app {app_ms:.0f} ms, import boto3 {boto_ms:.0f} ms: x{app_ms / boto_ms:.2f}")
    app_min, boto_min = result["import_app"]["min_ms"], result["import_boto3"]["min_ms"]
    print(f"  best: app {app_min:.0f} ms, boto3 {boto_min:.0f} ms: x{app_min / boto_min:.2f}")
    print(f"  heaviest under app: {result['heaviest_app']}")
    package = result["package"]
    if "zip_bytes" in package:
        print(f"Lambda zip {package['zip_bytes'] / 1e6:.1f} MB; largest {package['largest']}")
    else:
        print(f"chalice package failed: {package['error']}")
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
