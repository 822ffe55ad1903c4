"""Workers killed mid-task: the job is handed out again and completes."""

from __future__ import annotations

import os
import signal
import time

import psutil

from scripts.devstack.processes import ManagedProcess
from tests.reliability.fragile import Fragile, running
from tests.support.faults import Fault
from tests.support.imagegen import jpeg

SOURCE = r"/uploads/[0-9a-f]+/source"


def worker_named(faults: Fragile, hostname: str) -> ManagedProcess:
    return next(
        w
        for w in faults.stack.workers
        if hostname.startswith(f"{faults.stack.env['CELERY_QUEUE']}-{w.name}@")
    )


def test_pool_process_killed_then_the_job_completes(faults: Fragile) -> None:
    # The source download hangs for a while, so the task is surely mid-flight.
    stall = faults.proxy.add(Fault("GET", SOURCE, delay=4, times=1))
    job_id = faults.client.submit(jpeg(800, 600), "survive").json()["job_id"]
    faults.client.wait(job_id, timeout=30, until=lambda body: body["status"] == "processing")

    _, pid = running(faults.stack, job_id)
    pool = {
        child.pid
        for worker in faults.stack.workers
        for child in psutil.Process(worker.pid).children(recursive=True)
    }
    assert pid in pool and stall.hits == 1
    os.kill(pid, signal.SIGKILL)

    body = faults.client.wait(job_id, timeout=60)
    assert body["status"] == "completed", body
    assert faults.attempts(job_id) == 2, "the first attempt was killed, the second completed"
    # The worker replaced its pool process and keeps serving.
    assert all(worker.poll() is None for worker in faults.stack.workers)
    second = faults.client.submit(jpeg(64, 64), "after").json()["job_id"]
    assert faults.client.wait(second, timeout=30)["status"] == "completed"


def test_whole_worker_killed_then_another_finishes_within_visibility_plus_15s(
    faults: Fragile,
) -> None:
    visibility = int(faults.stack.env["VISIBILITY_TIMEOUT"])
    faults.proxy.add(Fault("GET", SOURCE, delay=3, times=1))
    job_id = faults.client.submit(jpeg(800, 600), "orphaned").json()["job_id"]
    faults.client.wait(job_id, timeout=30, until=lambda body: body["status"] == "processing")
    hostname, _ = running(faults.stack, job_id)
    victim = worker_named(faults, hostname)

    os.killpg(victim.pid, signal.SIGKILL)  # the main process and its pool, no goodbye
    killed_at = time.monotonic()
    victim.process.wait(10)

    body = faults.client.wait(job_id, timeout=visibility + 30)
    recovered_in = time.monotonic() - killed_at
    assert body["status"] == "completed", body
    assert faults.attempts(job_id) == 2
    print(
        f"\nwhole worker killed: completed {recovered_in:.1f} s later "
        f"(visibility timeout {visibility} s)"
    )
    # The bound the design promises; a measured figure, reported in docs/RELIABILITY.md.
    assert recovered_in <= visibility + 15


def test_sigterm_lets_the_running_task_finish(faults: Fragile) -> None:
    faults.proxy.add(Fault("GET", SOURCE, delay=2, times=1))
    job_id = faults.client.submit(jpeg(400, 300), "warm shutdown").json()["job_id"]
    faults.client.wait(job_id, timeout=30, until=lambda body: body["status"] == "processing")
    hostname, _ = running(faults.stack, job_id)
    victim = worker_named(faults, hostname)

    victim.signal(signal.SIGTERM)  # Celery's warm shutdown: finish, then exit
    assert victim.process.wait(30) == 0
    body = faults.client.wait(job_id, timeout=30)
    assert body["status"] == "completed", body
    assert faults.attempts(job_id) == 1, "finished by the same worker, not redone"
