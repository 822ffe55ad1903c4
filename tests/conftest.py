"""Shared fixtures: a real Redis for the whole session (reused if one answers); the tiers.

Tiers: ``tests/unit`` is the fast tier (no network, no server; ``make test-fast``),
its tests at the paths of the modules they test. ``tests/corpus`` runs the worker's
image code on real-world files (no network either, but minutes of CPU). Everything
under the directories in ``SLOW_TIERS`` runs real servers or tools and is marked
``slow``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.devstack.processes import free_port, redis_answers, redis_server_argv, wait_for

# A database of its own on a shared Redis, so tests never touch a developer's data.
TEST_REDIS_DB = 13
SLOW_TIERS = ("integration", "reliability", "hostile", "infra", "compose")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the live tiers ``slow``."""
    for item in items:
        if item.path.parent.name in SLOW_TIERS or item.path.parent.parent.name in SLOW_TIERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: the one at REDIS_URL (or 127.0.0.1:6379) if it answers, else our own."""
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    url = f"{base}/{TEST_REDIS_DB}"
    if redis_answers(url):
        # Not flushed: another test run may share it; every key the tests write expires,
        # and each run uses its own bucket and queue.
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            "The integration tests need Redis: none answers at REDIS_URL and "
            "redis-server is not installed (apt-get install redis-server)."
        )
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="test-redis-")
    process = subprocess.Popen(
        redis_server_argv(server, port, Path(data_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/{TEST_REDIS_DB}"
    try:
        wait_for(lambda: redis_answers(url), "redis-server", 20)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)


# The live-stack fixtures, shared by tests/integration and tests/reliability.
pytest_plugins = ["tests.support.stack_fixtures"]
