"""`terraform test` (infra/tests, mocked AWS provider) and `terraform validate` as a fresh clone has them.

infra/tests/*.tftest.hcl test the hand-written configuration alone, as a fresh
clone has it (no chalice.tf.json); infra/tests/api/*.tftest.hcl test it merged
with the dev stage's generated API. Both run offline against the local provider
mirror, in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import chalice_tf
from tests.infra.terraform import (
    assert_no_warnings,
    copy_infra,
    package_api,
    plugin_dir,
    terraform,
    terraform_init,
)

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None or plugin_dir() is None,
    reason="needs terraform and a local AWS provider mirror (TF_PLUGIN_DIR or /opt/tf-plugins)",
)


def test_a_fresh_clone_validates_without_the_generated_api(tmp_path: Path) -> None:
    work = copy_infra(tmp_path / "infra")
    assert not (work / chalice_tf.GENERATED_NAME).exists()
    terraform_init(work)
    run = terraform(work, "validate", "-no-color")
    assert_no_warnings(run)


def test_terraform_test_of_infra(tmp_path: Path) -> None:
    work = copy_infra(tmp_path / "infra")
    terraform_init(work)
    run = terraform(work, "test", "-no-color")
    assert "0 failed" in run.stdout and " passed" in run.stdout, run.stdout


def test_terraform_test_of_the_generated_api(tmp_path: Path) -> None:
    work = copy_infra(tmp_path / "infra")
    chalice_tf.merge_into(package_api("dev", tmp_path / "project"), work)
    terraform_init(work)
    run = terraform(work, "test", "-no-color", "-test-directory=tests/api")
    assert "0 failed" in run.stdout and " passed" in run.stdout, run.stdout
