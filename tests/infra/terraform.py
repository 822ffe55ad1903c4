"""Helpers of the deployment tests: repository paths and parsed Terraform."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
CHALICE = Path(sys.executable).with_name("chalice")
PLUGIN_DIRS = [os.environ.get("TF_PLUGIN_DIR", ""), "/opt/tf-plugins"]
# Offline and quiet: no version check, no prompts.
TF_ENV = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"}


def plugin_dir() -> Path | None:
    """The local mirror of the AWS provider (TF_PLUGIN_DIR, or /opt/tf-plugins), if any."""
    for candidate in PLUGIN_DIRS:
        if candidate and (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


def package_api(stage: str, project: Path) -> Path:
    """``chalice package --pkg-format terraform`` of ``stage`` into ``project``/out.

    Chalice runs on a copy of the app with an empty requirements.txt, so no
    network is needed (the real ``make package`` downloads the Lambda's wheels).
    """
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "app.py", project / "app.py")
    shutil.copytree(REPO / "chalicelib", project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)  # fmt: skip
    (project / ".chalice").mkdir(exist_ok=True)
    shutil.copy(REPO / ".chalice" / "config.json", project / ".chalice" / "config.json")
    (project / "requirements.txt").write_text("")
    out = project / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    run = subprocess.run(
        [str(CHALICE), "package", "--pkg-format", "terraform", "--stage", stage, str(out)],
        cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, f"chalice package failed:\n{run.stdout}\n{run.stderr}"
    return out


def copy_infra(target: Path) -> Path:
    """A scratch copy of infra/'s configuration (no state, no generated files)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in INFRA.glob("*.tf"):
        shutil.copy(path, target / path.name)
    shutil.copy(INFRA / ".terraform.lock.hcl", target / ".terraform.lock.hcl")
    for folder in ("modules", "tests"):
        shutil.copytree(INFRA / folder, target / folder, dirs_exist_ok=True)
    return target


def terraform(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``terraform -chdir=<workdir> <args>``, offline; fails the test with its output."""
    binary = shutil.which("terraform")
    assert binary is not None
    run = subprocess.run(
        [binary, f"-chdir={workdir}", *args],
        capture_output=True, text=True, env={**os.environ, **TF_ENV}, timeout=timeout, check=False,
    )  # fmt: skip
    assert run.returncode == 0, f"terraform {args[0]} failed:\n{run.stdout[-6000:]}\n{run.stderr}"
    return run


def assert_no_warnings(run: subprocess.CompletedProcess[str]) -> None:
    """No deprecation or other warning (a missing CLI configuration file aside)."""
    output = run.stdout + run.stderr
    warnings = [
        line
        for line in output.splitlines()
        if "Warning:" in line and "CLI configuration" not in line
    ]
    assert not warnings, output


def terraform_init(workdir: Path) -> None:
    plugins = plugin_dir()
    assert plugins is not None
    terraform(workdir, "init", "-backend=false", "-input=false", f"-plugin-dir={plugins}")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of labels and strings: strip them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_tf(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``{label: body}`` of one-label blocks (variable, output) in a parsed file."""
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind, []):
        for label, body in entry.items():
            found[unquote(label)] = body
    return found


def two_label_blocks(parsed: dict[str, Any], kind: str) -> set[str]:
    """``type.name`` addresses of two-label blocks (resource, data) in a parsed file."""
    found = set()
    for entry in parsed.get(kind, []):
        for rtype, named in entry.items():
            for name in named:
                found.add(f"{unquote(rtype)}.{unquote(name)}")
    return found
