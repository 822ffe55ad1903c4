"""A worker's pool process killed with SIGKILL mid-task: the job is redelivered and completes."""

from __future__ import annotations

import os
import signal
import time

import psutil
import redis

from scripts.stack import LocalStack
from tests.faults import Fault, FaultyProxy
from tests.integration.conftest import ApiClient
from tests.integration.test_end_to_end import jpeg


def pool_pid_running(stack: LocalStack, task_id: str) -> int:
    """The pid of the pool process running ``task_id``, as the workers report it."""
    from celery import Celery

    control = Celery(broker=stack.env["REDIS_URL"], set_as_current=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        active = control.control.inspect(timeout=1.0).active() or {}
        for tasks in active.values():
            for task in tasks:
                if task["id"] == task_id:
                    return int(task["worker_pid"])
        time.sleep(0.1)
    raise AssertionError(f"no worker reports running {task_id}")


def test_pool_process_killed_mid_task_then_job_completes(
    proxied: tuple[LocalStack, FaultyProxy], redis_url: str
) -> None:
    stack, proxy = proxied
    client = ApiClient(stack.api_url)
    # The worker's download of the source hangs for a while: the task is surely mid-flight.
    stall = proxy.add(Fault("GET", r"/uploads/[0-9a-f]+/source", delay=4, times=1))
    job_id = client.submit(jpeg(800, 600), "survive").json()["job_id"]
    client.wait(job_id, timeout=30, until=lambda body: body["status"] == "processing")

    pid = pool_pid_running(stack, job_id)
    pool = {
        child.pid
        for worker in stack.workers
        for child in psutil.Process(worker.pid).children(recursive=True)
    }
    assert pid in pool
    assert stall.hits == 1
    os.kill(pid, signal.SIGKILL)

    body = client.wait(job_id, timeout=60)
    assert body["status"] == "completed", body
    attempts = int(redis.Redis.from_url(redis_url).hget(f"job:{job_id}", "attempts"))
    assert attempts == 2, "the first attempt was killed, the second completed"
    # Each worker replaced its killed pool process and keeps serving.
    assert all(worker.poll() is None for worker in stack.workers)
    second = client.submit(jpeg(64, 64), "after").json()["job_id"]
    assert client.wait(second, timeout=30)["status"] == "completed"
