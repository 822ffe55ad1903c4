"""make package's API artifacts: the tested pins, trimmed of what the API never imports; the worker image apart."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from scripts import lambda_package
from tests.infra.terraform import INFRA, REPO

# Run with the trimmed packages unimportable: what the API and the scheduled
# function import at start and on first use (celery sending a task through
# kombu's Redis transport, the options schema, Powertools' logs and metrics).
WITHOUT_TRIMMED = textwrap.dedent(
    """
    import importlib.abc, sys

    class Trimmed(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is trimmed from the Lambda package")
            return None

    sys.meta_path.insert(0, Trimmed())
    import app
    import fastjsonschema, kombu.transport.redis
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics import EphemeralMetrics
    from celery import Celery

    producer = Celery("media-jobs-producer", set_as_current=False, broker="memory://")
    producer.conf.update(task_serializer="json", accept_content=["json"])
    producer.send_task("worker.tasks.process_job", kwargs={{"job_id": "j"}}, queue="images")
    print("sent")
    """
)


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return path


def test_stage_applies_the_constraints_to_the_lambda_requirements(tmp_path: Path) -> None:
    staged = lambda_package.stage(tmp_path / "src")
    requirements = (staged / "requirements.txt").read_text()
    assert (REPO / "requirements.txt").read_text().strip() in requirements
    assert f"-c {lambda_package.CONSTRAINTS}" in requirements.splitlines()
    assert (staged / "app.py").exists() and (staged / "chalicelib" / "__init__.py").exists()


def test_trim_removes_celerys_command_line_extras_only(tmp_path: Path) -> None:
    pins = lambda_package.pins()
    package = _zip(tmp_path / "deployment.zip", [
        "app.py", "chalicelib/__init__.py", "celery/__init__.py", "click/__init__.py",
        f"celery-{pins['celery']}.dist-info/METADATA", f"click-{pins['click']}.dist-info/METADATA",
        "prompt_toolkit/__init__.py", f"prompt_toolkit-{pins['prompt-toolkit']}.dist-info/METADATA",
        "wcwidth/__init__.py", "click_repl/__init__.py", "click_didyoumean/__init__.py",
        "click_plugins.py", f"click_plugins-{pins['click-plugins']}.dist-info/METADATA",
    ])  # fmt: skip
    removed = lambda_package.trim(package)
    assert removed == sorted(lambda_package.TRIMMED)
    left = zipfile.ZipFile(package).namelist()
    assert {n.split("/")[0] for n in left} == {
        "app.py", "chalicelib", "celery", "click",
        f"celery-{pins['celery']}.dist-info", f"click-{pins['click']}.dist-info",
    }  # fmt: skip
    assert lambda_package.check(package) == {"celery": pins["celery"], "click": pins["click"]}


def test_check_refuses_a_version_the_suite_does_not_test(tmp_path: Path) -> None:
    # What chalice package made without the constraints: PyPI's newest botocore.
    package = _zip(tmp_path / "deployment.zip", ["botocore-1.44.18.dist-info/METADATA"])
    with pytest.raises(lambda_package.PackageError, match="botocore"):
        lambda_package.check(package)


def test_the_api_runs_without_the_trimmed_packages() -> None:
    env = {
        **os.environ,
        "STAGE": "dev",
        "S3_BUCKET": "media-jobs-dev",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRIMMED.format(blocked=set(lambda_package.TRIMMED))],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "sent" in run.stdout, run.stderr[-3000:]


def test_the_packaged_lambda_holds_the_tested_pins() -> None:
    package = INFRA / "deployment.zip"
    if not package.exists():
        pytest.skip("no infra/deployment.zip: `make package` has not run in this tree")
    shipped = lambda_package.check(package)
    assert shipped["botocore"] == lambda_package.pins()["botocore"]


def test_the_worker_image_step_says_why_it_skipped_and_succeeds(tmp_path: Path) -> None:
    """A Docker engine that answers, a registry that does not, no Debian mirror either."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        '#!/bin/sh\n[ "$1" = info ] && exit 0\n'
        'echo "dial tcp: lookup registry-1.docker.io: no such host" >&2\nexit 1\n'
    )
    (bin_dir / "debootstrap").write_text("#!/bin/sh\necho 'cannot reach the mirror' >&2\nexit 1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STANDIN_PULL_TIMEOUT": "5"}
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "worker_image.sh")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "worker image NOT built" in run.stderr, run.stderr
