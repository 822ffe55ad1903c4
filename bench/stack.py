"""A private local stack for the benchmarks: its own redis-server, moto, bucket and queue.

Built on ``scripts.devstack.stack.DevStack`` (what ``make dev`` and the integration tests
run), with a Redis of its own on a free port so that nothing else using the
machine's Redis disturbs the figures, and nothing here disturbs it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.devstack.processes import free_port, isolated_env
from scripts.devstack.stack import DevStack


@contextmanager
def bench_stack() -> Iterator[DevStack]:
    # The throughput figures queue more jobs at once than a tenant may have in flight
    # by default; all of them are the anonymous tenant's.
    env = isolated_env(f"redis://127.0.0.1:{free_port()}/0", "bench", TENANT_JOBS_IN_FLIGHT="1000")
    env.pop("REDIS_PASSWORD", None)
    stack = DevStack(env, log_dir=Path(tempfile.mkdtemp(prefix="bench-stack-")))
    try:
        stack.ensure_redis()
        stack.ensure_s3()
        stack.ensure_bucket()
        yield stack
    finally:
        stack.stop()


@contextmanager
def stack_environ(stack: DevStack) -> Iterator[None]:
    """This process's environment set to the stack's, for in-process clients."""
    saved = dict(os.environ)
    os.environ.update(stack.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
