"""Fixtures of the deployment tests: the Terraform files, parsed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform import INFRA, load_tf


@pytest.fixture(scope="session")
def tf_files() -> list[Path]:
    files = sorted(INFRA.glob("*.tf"))
    assert files, "infra/ holds no .tf file"
    return files


@pytest.fixture(scope="session")
def parsed_tf(tf_files: list[Path]) -> dict[str, dict[str, Any]]:
    return {path.name: load_tf(path) for path in tf_files}
