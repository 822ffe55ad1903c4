"""A worker's pool process killed with SIGKILL mid-task: the job is redelivered and completes."""

from __future__ import annotations

import io
import os
import signal
import time

import psutil
import redis
from PIL import Image

from scripts.stack import LocalStack
from tests.integration.conftest import ApiClient


def heavy_png() -> bytes:
    """A PNG that takes a worker about a second: many pixels, cheap to send."""
    image = Image.radial_gradient("L").resize((7000, 7000)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


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
    stack: LocalStack, client: ApiClient, redis_url: str
) -> None:
    job_id = client.submit(heavy_png(), "survive").json()["job_id"]
    client.wait(job_id, timeout=30, until=lambda body: body["status"] == "processing")

    pid = pool_pid_running(stack, job_id)
    assert pid in {
        child.pid
        for worker in stack.workers
        for child in psutil.Process(worker.pid).children(recursive=True)
    }
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    body = client.wait(job_id, timeout=90)
    assert body["status"] == "completed", body
    attempts = int(redis.Redis.from_url(redis_url).hget(f"job:{job_id}", "attempts"))
    assert attempts >= 2, "the kill should have interrupted the first attempt"
    assert time.monotonic() - killed_at < 90
    # The worker replaced its pool process and keeps serving.
    assert all(worker.poll() is None for worker in stack.workers)
