"""A load of 1,000 jobs on two workers: every one completes, none runs twice."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import redis

from scripts.devstack.processes import wait_for
from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient

JOBS = 1000


def test_a_thousand_jobs_complete_exactly_once(stack: DevStack, redis_url: str) -> None:
    assert len([w for w in stack.workers if w.poll() is None]) == 2
    image = jpeg(96, 64)
    clients = [ApiClient(stack.api_url) for _ in range(8)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        responses = list(
            pool.map(
                lambda i: clients[i % len(clients)].submit(image, f"job number {i}"), range(JOBS)
            )
        )
    submitted = time.monotonic() - started
    assert [r.status_code for r in responses] == [202] * JOBS
    ids = [r.json()["job_id"] for r in responses]
    assert len(set(ids)) == JOBS

    r = redis.Redis.from_url(redis_url, decode_responses=True)

    def statuses() -> list[str]:
        pipe = r.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(f"job:{job_id}", "status")
        return pipe.execute()

    wait_for(lambda: all(s in ("completed", "failed") for s in statuses()), "1,000 jobs", 600)
    finished = time.monotonic() - started
    assert statuses() == ["completed"] * JOBS
    pipe = r.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(f"job:{job_id}", "attempts")
    attempts = [int(a) for a in pipe.execute()]
    assert attempts == [1] * JOBS, "no job was processed twice"
    print(
        f"\nload: {JOBS} jobs, submitted in {submitted:.1f} s, all completed in "
        f"{finished:.1f} s ({JOBS / finished:.1f} jobs/s), each exactly once"
    )
