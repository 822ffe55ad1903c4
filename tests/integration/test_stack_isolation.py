"""Local stacks on one Redis keep apart: their own queue and keys, and a warning otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import TEST_LIMITS, ApiClient

pytestmark = pytest.mark.slow


def dev_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """Settings like `make dev`'s: no queue, prefix or S3 endpoint chosen."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CELERY_", "S3_", "REDIS_KEY_PREFIX"))
    }
    # As .env.example sets it.
    env.update(REDIS_URL=redis_url, CELERY_QUEUE="images", **TEST_LIMITS)
    env.update(overrides)
    return env


@pytest.fixture
def stacks() -> Iterator[list[DevStack]]:
    made: list[DevStack] = []
    yield made
    for stack in made:
        stack.stop()


def test_a_stack_with_its_own_s3_takes_its_own_queue_and_prefix(
    redis_url: str, stacks: list[DevStack], tmp_path: Path
) -> None:
    first = DevStack(dev_env(redis_url), log_dir=tmp_path / "a")
    # Two stacks of one checkout run on two ports (one stable queue and prefix per port).
    second = DevStack(dev_env(redis_url, API_PORT="8001"), log_dir=tmp_path / "b")
    stacks += [first, second]
    for stack in (first, second):
        stack.ensure_redis()
        stack.ensure_s3()
    queues = {stack.env["CELERY_QUEUE"] for stack in (first, second)}
    prefixes = {stack.env["REDIS_KEY_PREFIX"] for stack in (first, second)}
    assert len(queues) == 2 and "images" not in queues
    assert len(prefixes) == 2 and all(prefixes)
    # The whole service honours the prefix: records, active index, dead letters.
    backends = Backends.from_settings(Settings.from_env(first.env))
    store = backends.store
    assert store.key("f" * 32) == first.env["REDIS_KEY_PREFIX"] + "job:" + "f" * 32  # type: ignore[attr-defined]
    assert store.active_index == first.env["REDIS_KEY_PREFIX"] + "jobs:active"  # type: ignore[attr-defined]
    letters = backends.dead_letters
    letters.push("test")
    try:
        assert Backends.from_settings(Settings.from_env(second.env)).dead_letters.count() == 0
    finally:
        letters.purge()


def test_a_chosen_queue_is_kept(redis_url: str, stacks: list[DevStack], tmp_path: Path) -> None:
    stack = DevStack(dev_env(redis_url, CELERY_QUEUE="images-mine"), log_dir=tmp_path)
    stacks.append(stack)
    stack.ensure_redis()
    stack.ensure_s3()
    assert stack.env["CELERY_QUEUE"] == "images-mine"
    assert not stack.env.get("REDIS_KEY_PREFIX")


def test_two_dev_stacks_on_one_redis_do_not_take_each_others_jobs(
    redis_url: str, stacks: list[DevStack], tmp_path: Path
) -> None:
    """Before, both consumed `images` and half of each stack's jobs failed source_missing."""
    first = DevStack(dev_env(redis_url, S3_BUCKET="iso-a"), log_dir=tmp_path / "a")
    second = DevStack(dev_env(redis_url, S3_BUCKET="iso-b"), log_dir=tmp_path / "b")
    stacks += [first, second]
    for stack in (first, second):
        stack.start_all(worker_count=1, api_port=free_port())
    for stack in (first, second):
        client = ApiClient(stack.api_url)
        ids = [client.submit(jpeg(200, 150), f"job {i}").json()["job_id"] for i in range(6)]
        for job_id in ids:
            body = client.wait(job_id, timeout=60)
            assert body["status"] == "completed", body
    assert first.foreign_consumers() == [] and second.foreign_consumers() == []


def test_foreign_workers_on_the_queue_are_named(
    redis_url: str, stacks: list[DevStack], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = DevStack(dev_env(redis_url), log_dir=tmp_path / "mine")
    stacks.append(mine)
    mine.ensure_redis()
    mine.ensure_s3()
    mine.start_worker()
    assert mine.foreign_consumers() == []
    # Another checkout told to use the same queue: same node name, another process.
    other = DevStack(
        dev_env(
            redis_url,
            CELERY_QUEUE=mine.env["CELERY_QUEUE"],
            AWS_ENDPOINT_URL=mine.env["AWS_ENDPOINT_URL"],
        ),
        log_dir=tmp_path / "other",
    )
    stacks.append(other)
    other.ensure_redis()
    other.start_worker(index=1)
    other.start_worker(index=7)
    foreign = mine.foreign_consumers()
    assert foreign == sorted(other.worker_nodes), foreign
    mine.warn_of_foreign_consumers()
    assert "did not start consume its queue" in capsys.readouterr().err
