"""The worker image's imaging engine ends every corpus file and hostile image as Pillow does.

The image runs Pillow-SIMD on x86-64 (two builds, SSE4 and AVX2; docker/pillow-simd/),
the development venv whichever engine it has (Pillow 13 by default). Both run
``tests/compose/engine_outcomes.py`` over the peer corpus and the hostile corpus's
images: every corpus file must end as ``tests/corpus/expected.csv`` says in every
engine, and every hostile image must end the same way, with outputs of the same
sizes, in every engine. So neither engine can drift from the other unnoticed.

    .venv/bin/python -m pytest -m compose tests/compose/test_engine_parity.py -s
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from functools import cache
from typing import Any

import pytest

from scripts.standin_images import ensure_images
from tests.compose.compose_stack import REPO, record

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

# The files Pillow-SIMD 12.1 ends otherwise than Pillow 13, from Pillow's own code (both
# decode with the same codec libraries: docker/pillow-simd/relink.py), each the way
# Pillow-SIMD ends it. Both refuse what Pillow 13 reads, never the other way round.
# A Pillow-SIMD release that catches up fails this test until its line goes.
KNOWN_DIFFERENCES = {
    # Pillow 13 reads a planar TIFF whose extra sample is unspecified (modes La and LX,
    # new in 13); Pillow 12.1 cannot identify it.
    ("corpus", "pillow/separate_planar_extra_samples.tiff"): "failed unsupported_image",
    # A Group 4 fax TIFF whose tile Pillow 13 bounds to the strip's real size (590x88);
    # Pillow 12.1 asks libtiff for 590x590 rows and gets a decoder error.
    ("corpus", "pillow/crash-74d2a78403a5a59db1fb0a2b8735ac068a75f6e3.tif"): (
        "failed corrupt_image"
    ),
}

IMAGE = "media-jobs-worker:local"  # what docker-compose.localstack.yml builds
OUTCOMES_MODULE = "tests.compose.engine_outcomes"


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.returncode}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def image() -> str:
    """The worker image as compose builds it (already built by the stack test when it ran
    first; BuildKit's cache makes a rebuild of unchanged sources a few seconds)."""
    env = {**os.environ, **ensure_images(only={"PYTHON_IMAGE"})}
    started = time.monotonic()
    run(["docker", "compose", "-f", "docker-compose.localstack.yml", "build", "worker"], env)
    record("worker image (re)build for the engine parity", f"{time.monotonic() - started:.1f} s")
    return IMAGE


def parse(stdout: str) -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    engine = lines[0]["engine"]
    return engine, {(line["set"], line["name"]): line for line in lines[1:]}


def in_image(image: str, *env: str) -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    """The outcomes inside the image, as its non-root user, with tests/ mounted read-only."""
    started = time.monotonic()
    argv = ["docker", "run", "--rm", "--network", "none"]
    for pair in env:
        argv += ["-e", pair]
    argv += ["-v", f"{REPO / 'tests'}:/app/tests:ro", image, "python", "-m", OUTCOMES_MODULE]
    engine, outcomes = parse(run(argv))
    record(f"engine outcomes in the image: {engine}", f"{time.monotonic() - started:.1f} s")
    return engine, outcomes


@cache
def in_venv() -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    started = time.monotonic()
    engine, outcomes = parse(run([sys.executable, "-m", OUTCOMES_MODULE]))
    record(f"engine outcomes in the venv: {engine}", f"{time.monotonic() - started:.1f} s")
    return engine, outcomes


def expected() -> dict[str, str]:
    with (REPO / "tests" / "corpus" / "expected.csv").open(newline="") as table:
        return {row["file"]: row["outcome"] for row in csv.DictReader(table)}


def check_against_the_venv(engine: str, outcomes: dict[tuple[str, str], dict[str, Any]]) -> None:
    venv_engine, reference = in_venv()
    assert set(outcomes) == set(reference)
    known = KNOWN_DIFFERENCES if engine.split()[0] != venv_engine.split()[0] else {}
    table = expected()
    corpus = {name: line["outcome"] for (kind, name), line in outcomes.items() if kind == "corpus"}
    assert set(corpus) == set(table)
    wrong = {
        name: (got, table[name])
        for name, got in corpus.items()
        if got != known.get(("corpus", name), table[name])
    }
    assert not wrong, f"{engine}: corpus files ending otherwise than expected.csv: {wrong}"
    differ = {
        key: (
            line["outcome"],
            line["outputs"],
            reference[key]["outcome"],
            reference[key]["outputs"],
        )
        for key, line in outcomes.items()
        if key not in known
        and (line["outcome"], line["outputs"])
        != (reference[key]["outcome"], reference[key]["outputs"])
    }
    assert not differ, f"{engine} and {venv_engine} end these differently: {differ}"
    for key, outcome in known.items():
        assert outcomes[key]["outcome"] == outcome, (engine, key, outcomes[key])


def test_the_image_engine_ends_every_file_as_the_venv_engine(image: str) -> None:
    engine, outcomes = in_image(image)
    if os.uname().machine == "x86_64":
        assert engine.startswith("pillow-simd "), engine
    check_against_the_venv(engine, outcomes)


def test_the_sse4_build_ends_every_file_as_the_venv_engine(image: str) -> None:
    """The build a CPU without AVX2 takes, forced on this one."""
    if os.uname().machine != "x86_64":
        pytest.skip("Pillow-SIMD is built on x86-64 only")
    engine, outcomes = in_image(image, "PILLOW_SIMD_LEVEL=sse4")
    assert engine.endswith("(sse4)"), engine
    check_against_the_venv(engine, outcomes)


FENCE_CHECK = """
from worker.upstream import PRIVATE_DEPENDENCIES
import importlib.metadata
for d in PRIVATE_DEPENDENCIES:
    if d.installed():
        version = importlib.metadata.version(d.package)
        same = d.current_digest() == d.source_sha256
        print(d.package, version == d.version, same, d.current_digest())
"""


def test_the_fenced_private_code_is_the_one_written_for_in_the_image(image: str) -> None:
    """worker/upstream.py's fences, checked against the image's libraries (the unit test
    checks them in the venv, whose imaging engine is the other one)."""
    out = run(["docker", "run", "--rm", "--network", "none", image, "python", "-c", FENCE_CHECK])
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert rows, out
    stale = [row for row in rows if row[1:3] != ["True", "True"]]
    assert not stale, f"review worker/upstream.py for these (package, version ok, code ok): {stale}"
    if os.uname().machine == "x86_64":
        assert "pillow-simd" in {row[0] for row in rows}, rows
