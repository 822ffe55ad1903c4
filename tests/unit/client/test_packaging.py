"""The client package installs with pip into an environment of its own and gives ``media-jobs``.

Built as a wheel from ``client/`` and installed without the index into a fresh virtual
environment (its two dependencies, requests and tqdm, are lent from this one's
site-packages by a ``.pth`` line), then used outside the checkout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from scripts.devstack.processes import ROOT

pytestmark = pytest.mark.slow


def run(*argv: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_pip_installs_the_client_with_its_command(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        ROOT / "client",
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("media_jobs_client-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    lent = Path(requests.__file__).parents[1]
    (site / "lend-dependencies.pth").write_text(f"{lent}\n")
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )
    usage = run(venv / "bin" / "media-jobs", "--help", cwd=tmp_path)
    for command in ("submit", "status", "wait", "list", "download", "delete"):
        assert f"    {command} " in usage
    where = run(
        venv / "bin" / "python",
        "-c",
        "import media_jobs_client as m; print(m.__file__); print(m.__version__); "
        "print(m.verify_webhook.__module__)",
        cwd=tmp_path,
    ).split()
    assert where[0].startswith(str(venv)) and where[2] == "media_jobs_client.webhooks"
