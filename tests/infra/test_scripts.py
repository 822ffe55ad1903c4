"""scripts/{package,deploy,destroy,ensure_docker}.sh: valid bash, strict mode, clear errors without tools."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.infra.terraform import REPO

SCRIPTS = ["package.sh", "worker_image.sh", "deploy.sh", "destroy.sh", "ensure_docker.sh"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_strict_bash(name: str) -> None:
    path = REPO / "scripts" / name
    assert os.access(path, os.X_OK), f"{name} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("name", ["deploy.sh", "destroy.sh"])
def test_missing_terraform_is_a_clear_error(name: str) -> None:
    env = {**os.environ, "TERRAFORM": "terraform-not-installed-here", "STAGE": "dev"}
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / name)],
        capture_output=True, text=True, env=env, timeout=30, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode != 0
    assert "terraform-not-installed-here' not found" in run.stderr


def test_unknown_stage_is_refused() -> None:
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh")],
        capture_output=True, text=True, env={**os.environ, "STAGE": "staging"},
        timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert "STAGE must be dev or prod" in run.stderr
