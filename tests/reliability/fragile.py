"""The fault tests' stack: short time limits, S3 behind a fault-injecting proxy, and
helpers to find which worker runs a task."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from scripts.devstack.processes import wait_for
from scripts.devstack.stack import DevStack
from tests.support.faults import FaultyProxy
from tests.support.stack_fixtures import ApiClient

# Short enough to watch a lost task come back within a test, long enough for a
# tiny job: the visibility timeout stays above the hard limit, as in production.
SHORT_TIMINGS = {
    "VISIBILITY_TIMEOUT": "12",
    "TASK_SOFT_TIME_LIMIT": "4",
    "TASK_HARD_TIME_LIMIT": "7",
    "REDIS_SOCKET_TIMEOUT": "2",
    "RECONCILE_PENDING_GRACE": "1",
    "PROCESSING_LEASE_SECONDS": "3",
}


@dataclass
class Fragile:
    """A stack whose S3 traffic the test can delay, fail or cut."""

    stack: DevStack
    proxy: FaultyProxy
    client: ApiClient

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.stack.env["REDIS_URL"], decode_responses=True)

    def attempts(self, job_id: str) -> int:
        return int(self.redis.hget(f"job:{job_id}", "attempts") or 0)

    def respawn_workers(self, count: int = 2) -> None:
        """Replace dead workers so each test starts with ``count`` live ones."""
        self.stack.workers[:] = [w for w in self.stack.workers if w.poll() is None]
        while len(self.stack.workers) < count:
            self.stack.start_worker(index=len(self.stack.processes) + 1)

    def idle(self, timeout: float = 30) -> None:
        """Wait until the queue is empty and nothing of it is delivered but unacknowledged.

        kombu's ``unacked`` hash is one for the whole Redis server, shared with the other
        stacks the session runs (the broker-restart rig leaves redelivered tasks there
        until their visibility timeout): only this stack's queues count.
        """
        queue = self.stack.env["CELERY_QUEUE"]
        ours = {queue, f"{queue}-heavy"}
        r = self.redis

        def held() -> list[str]:
            found = []
            for tag, raw in r.hgetall("unacked").items():
                try:
                    routing_key = json.loads(raw)[2]
                except (ValueError, IndexError, TypeError):
                    continue
                if routing_key in ours:
                    found.append(tag)
            return found

        try:
            wait_for(lambda: r.llen(queue) == 0 and not held(), "an idle queue", timeout)
        except Exception as exc:
            raise AssertionError(f"{exc}; queued {r.llen(queue)}, unacked: {held()}") from exc


def celery_control(stack: DevStack) -> Any:
    from celery import Celery

    return Celery(broker=stack.env["REDIS_URL"], set_as_current=False)


def running(stack: DevStack, task_id: str, timeout: float = 20) -> tuple[str, int]:
    """(worker hostname, pool pid) of the worker running ``task_id``."""
    control = celery_control(stack)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = control.control.inspect(timeout=1.0).active() or {}
        for hostname, tasks in active.items():
            for task in tasks:
                if task["id"] == task_id:
                    return hostname, int(task["worker_pid"])
        time.sleep(0.1)
    raise AssertionError(f"no worker reports running {task_id}")
