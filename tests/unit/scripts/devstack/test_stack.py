"""The local stack's bookkeeping: a stable prefix, the settings file, the port check."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from scripts.devstack.processes import ROOT, StackError, port_holder
from scripts.devstack.stack import STACK_FILE_KEYS, DevStack, load_env


def stack(tmp_path: Path, **env: str) -> DevStack:
    return DevStack({"CELERY_QUEUE": "images", **env}, log_dir=tmp_path / "logs")


def test_the_queue_and_prefix_are_the_same_on_every_run_of_a_checkout_and_port(
    tmp_path: Path,
) -> None:
    first, again = stack(tmp_path), stack(tmp_path)
    other_port = stack(tmp_path, API_PORT="8001")
    for each in (first, again, other_port):
        each.keep_apart()
    assert first.env["REDIS_KEY_PREFIX"] == again.env["REDIS_KEY_PREFIX"]
    assert first.env["CELERY_QUEUE"] == again.env["CELERY_QUEUE"] != "images"
    assert other_port.env["REDIS_KEY_PREFIX"] != first.env["REDIS_KEY_PREFIX"]


def test_the_settings_file_is_what_the_tools_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = stack(tmp_path, REDIS_URL="redis://127.0.0.1:6390/2")
    local.keep_apart()
    local.api_url = "http://127.0.0.1:8000"
    path = local.write_stack_file(tmp_path / "dev.env")
    for name in STACK_FILE_KEYS:
        monkeypatch.delenv(name, raising=False)
    env = load_env(path)
    assert env["REDIS_URL"] == "redis://127.0.0.1:6390/2"
    assert env["REDIS_KEY_PREFIX"] == local.env["REDIS_KEY_PREFIX"]
    assert env["CELERY_QUEUE"] == local.env["CELERY_QUEUE"]
    assert env["MEDIA_API_URL"] == "http://127.0.0.1:8000"
    # An environment naming any stack setting itself is about another stack: no part of
    # the file applies (half of it would mislead, e.g. this stack's prefix on another Redis).
    monkeypatch.setenv("CELERY_QUEUE", "mine")
    other = load_env(path)
    assert other["CELERY_QUEUE"] == "mine"
    assert other.get("REDIS_KEY_PREFIX", "") != local.env["REDIS_KEY_PREFIX"]
    assert other.get("REDIS_URL") != "redis://127.0.0.1:6390/2"


def test_a_taken_port_is_refused_naming_its_holder(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_holder(port) is not None
        with pytest.raises(StackError, match=f"port {port} is taken by"):
            stack(tmp_path).check_port_free(port)
    assert port_holder(port) is None


def test_each_run_logs_in_a_directory_of_its_own() -> None:
    local = DevStack({})
    try:
        assert local.log_dir.parent == ROOT / ".local" / "logs"
        assert local.log_dir.name.endswith(f"-{os.getpid()}")
    finally:
        local.log_dir.rmdir()
