"""Operator commands: limits given as name=number, and output that ends quietly on a closed pipe."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.devstack.processes import ROOT
from scripts.ops import _limits


def test_limits_are_name_number_pairs() -> None:
    assert _limits(["jobs_in_flight=5", " burst = 10"]) == {"jobs_in_flight": 5.0, "burst": 10.0}
    for bad in ("jobs_in_flight", "burst=many"):
        with pytest.raises(SystemExit, match="a limit is name=number"):
            _limits([bad])


def test_a_reader_that_stops_early_ends_the_output_quietly() -> None:
    script = "from scripts.ops import write_json; raise SystemExit(write_json(list(range(10**5))))"
    shell = f"{sys.executable} -c '{script}' | head -n 1"
    done = subprocess.run(
        ["bash", "-c", shell], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "[\n"
    assert done.stderr == ""
