"""The compose test's figures, printed at the end of the run (a test never asserts a time)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compose.compose_stack import FIGURES


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not FIGURES:
        return
    terminalreporter.section("compose stack figures")
    width = max(len(name) for name in FIGURES)
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name:<{width}}  {value}")
