"""Time limits, poison messages, duplicate deliveries and stuck jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from chalicelib.backends import Backends
from chalicelib.broker.producer import CeleryTaskQueue
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.jobs.contract import DEAD_LETTER_KEY, PROCESS_TASK
from chalicelib.jobs.model import Job
from chalicelib.jobs.reconcile import reconcile_stuck_jobs
from chalicelib.jobs.store import RedisJobStore
from scripts.devstack.processes import ROOT, wait_for
from tests.reliability.fragile import Fragile
from tests.support.faults import Fault
from tests.support.imagegen import jpeg


def test_a_task_over_its_soft_time_limit_fails_with_timeout(faults: Fragile) -> None:
    soft = int(faults.stack.env["TASK_SOFT_TIME_LIMIT"])
    # The first read of the source outlasts the soft limit. The limit's exception hits the
    # blocked read, where botocore swallows it and reads again (quickly, this time): the
    # job must still end as a timeout, not complete late.
    faults.proxy.add(Fault("GET", r"/uploads/.*/source", delay=soft + 1.5, times=1))
    job_id = faults.client.submit(jpeg(200, 100), "too slow").json()["job_id"]
    body = faults.client.wait(job_id, timeout=30)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "timeout"
    assert all(worker.poll() is None for worker in faults.stack.workers)


def _queue(faults: Fragile) -> CeleryTaskQueue:
    return CeleryTaskQueue(Settings.from_env(faults.stack.env))


def _send_raw(faults: Fragile, *args: object, task: str = PROCESS_TASK, **kwargs: object) -> str:
    app = _queue(faults)._celery()
    task_id = uuid.uuid4().hex
    app.send_task(
        task, args=args, kwargs=kwargs, task_id=task_id, queue=faults.stack.env["CELERY_QUEUE"]
    )
    return task_id


def test_poison_messages_land_in_the_dead_letter_list_once(faults: Fragile) -> None:
    r = faults.redis
    r.delete(DEAD_LETTER_KEY)
    queue = faults.stack.env["CELERY_QUEUE"]
    # A job that does not exist (deleted, say) is consumed once, and no dead letter:
    # clients deleting their jobs must not fill the operator's list.
    gone = _send_raw(faults, job_id="f" * 32)
    _send_raw(faults, job_id="../../etc/passwd")  # not a job id at all
    _send_raw(faults, "positional", {"nested": [1, 2]})  # garbage arguments
    _send_raw(faults, task="media.no_such_task", job_id="a" * 32)  # unknown task
    r.lpush(queue, b"\x00\x01 not json, not a message")  # undecodable
    r.lpush(queue, json.dumps({"hello": "world"}))  # JSON, but not a Celery message

    wait_for(lambda: r.llen(DEAD_LETTER_KEY) >= 5, "five dead letters", 30)
    faults.idle()
    time.sleep(2)  # nothing comes back: each was consumed once, for good
    letters = [json.loads(x) for x in r.lrange(DEAD_LETTER_KEY, 0, -1)]
    assert len(letters) == 5, letters
    assert gone not in {letter.get("task_id") for letter in letters}
    reasons = " | ".join(letter["reason"] for letter in letters)
    for expected in (
        "malformed task arguments",
        "unknown task",
        "unparsable envelope",
        "not a task message",
    ):
        assert expected in reasons
    assert all(worker.poll() is None for worker in faults.stack.workers)


def test_an_operator_replays_a_dead_letter(faults: Fragile, s3) -> None:
    """A job whose task was dead-lettered (here: sent with a stray argument) is replayed."""
    settings = Settings.from_env(faults.stack.env)
    store = RedisJobStore(faults.redis, settings.job_ttl_seconds)
    job_id = _pending_job_without_task(faults, store, s3)
    r = faults.redis
    r.delete(DEAD_LETTER_KEY)
    _send_raw(faults, job_id=job_id, priority="urgent")
    wait_for(lambda: r.llen(DEAD_LETTER_KEY) == 1, "the dead letter", 30)
    assert faults.client.status(job_id).json()["status"] == "pending"

    listing = _ops(faults, "dead-letters")
    assert listing["count"] == 1 and listing["entries"][0]["kwargs"]["job_id"] == job_id
    assert _ops(faults, "dead-letters", "--replay") == {"replayed": [job_id], "kept": 0}
    assert faults.client.wait(job_id, timeout=30)["status"] == "completed"
    assert r.llen(DEAD_LETTER_KEY) == 0


def _ops(faults: Fragile, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "scripts.ops", *args],
        cwd=ROOT,
        env=faults.stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _pending_job_without_task(faults: Fragile, store: RedisJobStore, s3) -> str:
    """What a crash between the record write and the enqueue leaves behind."""
    job_id = uuid.uuid4().hex
    s3.put_object(
        Bucket=faults.stack.env["S3_BUCKET"],
        Key=f"uploads/{job_id}/source",
        Body=jpeg(120, 80),
        ContentType="image/jpeg",
    )
    now = time.time()
    store.create(
        Job(
            job_id=job_id,
            status=jobs.PENDING,
            created_at=now,
            updated_at=now,
            text="stranded",
            source_key=f"uploads/{job_id}/source",
        )
    )
    return job_id


def test_the_reconciler_requeues_jobs_stuck_without_a_task(faults: Fragile, s3) -> None:
    settings = Settings.from_env(faults.stack.env)
    store = RedisJobStore(faults.redis, settings.job_ttl_seconds)
    stranded = [_pending_job_without_task(faults, store, s3) for _ in range(3)]
    time.sleep(settings.reconcile_pending_grace + 0.5)
    assert all(faults.client.status(j).json()["status"] == "pending" for j in stranded)

    backends = Backends.from_settings(settings)
    report = reconcile_stuck_jobs(store, backends.queue, backends.inspector, settings)
    assert set(stranded) <= set(report.requeued)
    assert all(faults.client.wait(j, timeout=30)["status"] == "completed" for j in stranded)
    # A second pass finds nothing more to do for them.
    again = reconcile_stuck_jobs(store, backends.queue, backends.inspector, settings)
    assert not set(stranded) & set(again.requeued)


def test_a_duplicate_delivery_of_a_finished_job_changes_nothing(faults: Fragile, s3) -> None:
    job_id = faults.client.submit(jpeg(500, 400), "once").json()["job_id"]
    before = faults.client.wait(job_id)
    assert before["status"] == "completed"
    bucket = faults.stack.env["S3_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{job_id}/")["Contents"]
    etags = {o["Key"]: o["ETag"] for o in listed}
    modified = {o["Key"]: o["LastModified"] for o in listed}

    _send_raw(faults, job_id=job_id)  # the same task again, as a redelivery would
    faults.idle()
    time.sleep(1)
    after = faults.client.status(job_id).json()
    assert {k: v for k, v in after.items() if k != "result"} == {
        k: v for k, v in before.items() if k != "result"
    }
    relisted = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{job_id}/")["Contents"]
    assert {o["Key"]: o["ETag"] for o in relisted} == etags
    assert {o["Key"]: o["LastModified"] for o in relisted} == modified  # not even rewritten
    assert faults.attempts(job_id) == 1
