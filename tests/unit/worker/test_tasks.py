"""The processing task's state machine, its body called directly on the fast tier's backends.

As Celery's testing guide advises: no broker and no worker; the task function runs
in the test, with the per-process backends replaced by fakes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from celery.exceptions import Reject, SoftTimeLimitExceeded

from chalicelib.api.service import JobService
from chalicelib.core.errors import JobTimeout, ServiceUnavailable
from chalicelib.jobs import model as jobs
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world
from worker import tasks
from worker.deadline import Deadline

ALPHA = Tenant("alpha", "Alpha")


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> FakeWorld:
    world = fake_world()
    monkeypatch.setattr(tasks, "get_context", lambda: world.backends)
    return world


def submitted(world: FakeWorld, image: bytes | None = None, callback: str | None = None) -> str:
    service = JobService.from_backends(world.backends)
    submission = service.validate(image or imagegen.jpeg(320, 240), "A text.", None)
    if callback:
        submission = type(submission)(**{**submission.__dict__, "callback_url": callback})
    return service.submit(submission, ALPHA).job_id


def run(job_id: str) -> str:
    return str(tasks.process_job(job_id=job_id))


def test_a_job_completes_with_its_outputs_and_result(world: FakeWorld) -> None:
    job_id = submitted(world)
    assert run(job_id) == "completed"
    job = world.store.get(job_id)
    assert job is not None and job.status == jobs.COMPLETED and job.progress == 100
    keys = set(world.objects.objects)
    prefix = world.objects.result_prefix(job_id)
    assert {f"{prefix}thumbnail.jpg", f"{prefix}preview.jpg", f"{prefix}captioned.jpg"} <= keys
    stored = json.loads(world.objects.objects[f"{prefix}result.json"][0])
    # result.json uploads beside the outputs, so its timings end with the encoding;
    # the record's add the wait for the uploads and count it in the total.
    assert {**stored, "timings_ms": None} == {**job.result, "timings_ms": None}
    assert "upload" in job.result["timings_ms"] and "upload" not in stored["timings_ms"]
    assert stored["timings_ms"]["total"] <= job.result["timings_ms"]["total"]


def test_a_redelivered_finished_job_is_not_redone(world: FakeWorld) -> None:
    job_id = submitted(world)
    run(job_id)
    before = dict(world.objects.objects)
    assert run(job_id) == "already-completed"
    assert world.objects.objects == before
    assert world.store.get(job_id).attempts == 1  # type: ignore[union-attr]


def test_a_corrupt_image_fails_at_once_with_its_code(world: FakeWorld) -> None:
    job_id = submitted(world, imagegen.jpeg(320, 240)[:600])
    assert run(job_id) == "failed"
    job = world.store.get(job_id)
    assert job is not None and job.error_code == "corrupt_image"


def test_a_job_started_too_often_is_failed_and_dead_lettered(world: FakeWorld) -> None:
    job_id = submitted(world)
    for _ in range(tasks.MAX_ATTEMPTS):
        world.store.count_attempt(job_id)
    assert run(job_id) == "failed"
    assert world.store.get(job_id).error_code == "internal_error"  # type: ignore[union-attr]
    assert world.backends.dead_letters.list()[0]["reason"] == "too many attempts"


def test_malformed_arguments_are_dead_lettered_a_deleted_job_is_not(world: FakeWorld) -> None:
    # A task of a deleted job is normal (a client deleted it before it ran): dead
    # letters are for what an operator must look at, and clients cannot fill them.
    assert run("f" * 32) == "gone"
    assert tasks.process_job("positional") == "dead-lettered"
    reasons = [entry["reason"] for entry in world.backends.dead_letters.list()]
    assert reasons == ["malformed task arguments"]


def test_an_ended_job_no_longer_counts_in_flight(world: FakeWorld) -> None:
    job_id = submitted(world)
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 1
    run(job_id)
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 0


@pytest.fixture()
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits of in-place retries, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(tasks, "sleep", slept.append)
    return slept


def test_an_outage_is_retried_in_place_with_backoff_then_fails_with_its_code(
    world: FakeWorld, waits: list[float]
) -> None:
    job_id = submitted(world)
    world.objects.down = True
    assert run(job_id) == "failed"
    assert waits == [tasks.backoff_seconds(n) for n in range(tasks.settings.task_max_retries)]
    job = world.store.get(job_id)
    assert job is not None and job.error_code == "service_unavailable"
    # Retries in place are one run: not counted as runs a worker died in.
    assert job.attempts == 1


def test_a_passing_outage_costs_a_wait_not_a_message(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    world.store.down = True
    seen: list[str] = []

    def outage_over(delay: float) -> None:
        world.store.down = False
        seen.append(world.store.records[job_id]["status"])

    monkeypatch.setattr(tasks, "sleep", outage_over)
    # No retry is published: a published retry can be lost with the broker connection
    # after the original message was acknowledged.
    monkeypatch.setattr(tasks.process_job, "retry", None)
    assert run(job_id) == "completed"
    assert seen == [jobs.PENDING]
    job = world.store.get(job_id)
    assert job is not None and job.status == jobs.COMPLETED and job.attempts == 1


def test_a_run_without_time_to_wait_is_rejected_back_to_the_queue(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch, waits: list[float]
) -> None:
    job_id = submitted(world)
    world.objects.down = True
    monkeypatch.setattr(tasks.Deadline, "for_task", classmethod(lambda cls, s: cls(2.5)))
    with pytest.raises(Reject) as rejected:
        run(job_id)
    assert rejected.value.requeue is True
    assert waits == [1.0]  # the 2 s wait after it would not leave a second for the work
    job = world.store.get(job_id)
    assert job is not None and job.status == jobs.PROCESSING
    # The run ends, its lease is given back: the reconciler may queue the job again.
    assert world.store.lease_holder(job_id) is None


def test_a_second_delivery_while_a_live_worker_holds_the_lease_is_dropped(
    world: FakeWorld, waits: list[float]
) -> None:
    job_id = submitted(world)
    assert world.store.take_lease(job_id, "another-host:1:abc", 30)
    assert run(job_id) == "running-elsewhere"
    job = world.store.get(job_id)
    assert job is not None and job.status == jobs.PENDING and job.attempts == 0
    assert world.store.lease_holder(job_id) == "another-host:1:abc"
    # It looked again for as long as a dead holder's lease takes to lapse.
    assert sum(waits) >= tasks.settings.processing_lease_seconds


def test_a_second_delivery_ends_once_the_holder_has_finished_the_job(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    assert run(job_id) == "completed"
    world.store.set_fields(job_id, status=jobs.PROCESSING)  # as read before it finished
    assert world.store.take_lease(job_id, "another-host:1:abc", 30)

    def finish(seconds: float) -> None:
        world.store.set_fields(job_id, status=jobs.COMPLETED)
        world.store.lapse_lease(job_id)

    monkeypatch.setattr(tasks, "sleep", finish)
    assert run(job_id) == "already-completed"
    assert world.store.get(job_id).attempts == 1  # type: ignore[union-attr]


def test_a_second_delivery_takes_the_job_once_the_holders_lease_lapses(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    assert world.store.take_lease(job_id, "another-host:1:abc", 30)

    def lapse(seconds: float) -> None:
        world.store.lapse_lease(job_id)

    monkeypatch.setattr(tasks, "sleep", lapse)
    assert run(job_id) == "completed"


def test_the_lease_of_a_process_that_died_on_this_host_is_taken_over_at_once(
    world: FakeWorld, waits: list[float]
) -> None:
    job_id = submitted(world)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_owner = f"{socket.gethostname()}:{ended.stdout.strip()}:abc"
    assert world.store.take_lease(job_id, dead_owner, 30)
    assert run(job_id) == "completed"
    assert waits == []


def test_a_running_job_holds_its_lease_and_gives_it_back(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    holders: list[str | None] = []
    real_run_job = tasks.run_job

    def run_and_look(ctx, job, deadline, checks=()):  # type: ignore[no-untyped-def]
        holders.append(world.store.lease_holder(job_id))
        return real_run_job(ctx, job, deadline)

    monkeypatch.setattr(tasks, "run_job", run_and_look)
    assert run(job_id) == "completed"
    assert holders[0] is not None and holders[0].count(":") == 2
    assert world.store.lease_holder(job_id) is None


def test_the_lease_is_renewed_while_the_job_runs() -> None:
    world = fake_world()
    lease = tasks.JobLease(world.store, "a" * 32, "me", seconds=0.3)
    with lease:
        assert lease.take()
        time.sleep(0.6)  # twice the lease: only renewals keep it
        assert world.store.lease_holder("a" * 32) == "me"
    assert world.store.lease_holder("a" * 32) is None


def test_an_expired_deadline_fails_the_job_with_timeout(world: FakeWorld) -> None:
    job_id = submitted(world)
    ticks = iter(range(100))
    deadline = Deadline(0.5, clock=lambda: float(next(ticks)))  # expires at the 2nd look
    lease = tasks.JobLease(world.store, job_id, "me", 30)
    with pytest.raises(JobTimeout):
        tasks.process(world.backends, job_id, deadline, lease)


def test_the_task_fails_a_job_over_its_deadline_with_timeout(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    monkeypatch.setattr(tasks.Deadline, "for_task", classmethod(lambda cls, s: cls(-1.0)))
    assert run(job_id) == "failed"
    assert world.store.get(job_id).error_code == "timeout"  # type: ignore[union-attr]


def test_a_job_deleted_while_it_ran_leaves_nothing(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    real_run_job = tasks.run_job

    def run_then_delete(ctx, job, deadline, checks=()):  # type: ignore[no-untyped-def]
        result = real_run_job(ctx, job, deadline)
        JobService.from_backends(world.backends).delete(job_id, ALPHA)
        return result

    monkeypatch.setattr(tasks, "run_job", run_then_delete)
    assert run(job_id) == "deleted-while-running"
    assert world.objects.objects == {}


def test_a_final_status_queues_the_webhook(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks, "queue_webhook", queued.append)
    job_id = submitted(world, callback="http://127.0.0.1:9/hook")
    run(job_id)
    assert queued == [job_id]


def test_the_deadline_counts_the_soft_limit_signal() -> None:
    deadline = Deadline(60)
    assert not deadline.expired()
    with pytest.raises(SoftTimeLimitExceeded):  # raised wherever the code was running
        deadline._on_signal(0, None)
    # Even if a library swallowed that exception, the next stage boundary stops.
    assert deadline.expired()
    with pytest.raises(JobTimeout):
        deadline.check()


def test_service_unavailable_past_the_retries_fails(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)

    def down(*_: object, **__: object) -> str:
        raise ServiceUnavailable()

    monkeypatch.setattr(tasks, "process", down)
    monkeypatch.setattr(tasks, "settings", replace(tasks.settings, task_max_retries=0))
    assert run(job_id) == "failed"
    assert world.store.get(job_id).error_code == "service_unavailable"  # type: ignore[union-attr]


def _spin(seconds: float) -> None:
    """Pure-Python work for ``seconds`` (a stand-in for a call whose cost the header hid)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


def test_a_job_running_past_its_work_limit_is_stopped_and_charged(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    monkeypatch.setattr(tasks, "work_limit_seconds", lambda cost_ms, settings: 0.3)
    # One long call inside a stage: the limit's signal stops it, not the stage's end.
    monkeypatch.setattr("worker.pipeline.analyze_text", lambda text: _spin(30))
    before = world.backends.quotas.usage("alpha")["work_seconds_this_hour"]
    started = time.monotonic()
    assert run(job_id) == "failed"
    assert time.monotonic() - started < 10  # functional: stopped, not run for 30 s
    job = world.store.get(job_id)
    assert job is not None and job.error_code == "work_limit_exceeded"
    usage = world.backends.quotas.usage("alpha")
    assert usage["jobs_in_flight"] == 0
    # The price was charged at submit; what it used past it is charged now.
    assert usage["work_seconds_this_hour"] >= before + 0.2


def test_a_work_limit_exception_swallowed_by_a_library_still_stops_the_job(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submitted(world)
    monkeypatch.setattr(tasks, "work_limit_seconds", lambda cost_ms, settings: 0.2)

    def swallowing(text: str) -> dict[str, object]:
        # As a careless library would: the limit's exception is swallowed.
        with contextlib.suppress(Exception):
            _spin(30)
        return {}

    monkeypatch.setattr("worker.pipeline.analyze_text", swallowing)
    assert run(job_id) == "failed"
    assert world.store.get(job_id).error_code == "work_limit_exceeded"  # type: ignore[union-attr]


def test_the_work_limit_is_the_price_times_a_factor_with_a_floor_and_a_ceiling() -> None:
    from chalicelib.core.settings import Settings
    from chalicelib.media.cost import work_limit_seconds

    settings = Settings(s3_bucket="b")
    assert work_limit_seconds(30, settings) == settings.work_limit_floor_seconds
    assert work_limit_seconds(3000, settings) == 3 * settings.work_limit_factor
    assert work_limit_seconds(1e9, settings) == settings.task_soft_time_limit


def test_deleting_a_processing_job_holds_its_place_until_the_worker_stops(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = Tenant("alpha", "Alpha", limits={"jobs_in_flight": 1})
    service = JobService.from_backends(world.backends)
    job_id = service.submit(
        service.validate(imagegen.jpeg(320, 240), "A text.", None), tenant
    ).job_id
    seen: dict[str, object] = {}
    stages: list[str] = []
    real_analyze = tasks.run_job.__globals__["analyze_text"]

    def delete_midway(text: str) -> dict[str, object]:
        service.delete(job_id, tenant)
        seen["in_flight"] = world.backends.quotas.usage("alpha")["jobs_in_flight"]
        second = service.validate(imagegen.jpeg(32, 32), "Another.", None)
        try:
            service.submit(second, tenant)
        except Exception as exc:
            seen["second"] = getattr(exc, "code", type(exc).__name__)
        stages.append("text")
        return dict(real_analyze(text))

    monkeypatch.setattr("worker.pipeline.analyze_text", delete_midway)
    monkeypatch.setattr("worker.pipeline.process_image", lambda *a, **k: stages.append("image"))
    assert run(job_id) == "deleted-while-running"
    # While the worker ran it, the deleted job kept its place: no second job in flight.
    assert seen == {"in_flight": 1, "second": "rate_limited"}
    # It stopped at the next stage boundary, wrote nothing, and gave its place back.
    assert stages == ["text"]
    assert world.objects.objects == {}
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 0


def test_deleting_a_pending_job_gives_its_place_back_at_once(world: FakeWorld) -> None:
    job_id = submitted(world)
    JobService.from_backends(world.backends).delete(job_id, ALPHA)
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 0
    assert run(job_id) == "gone"


def test_an_attempt_counted_after_a_delete_leaves_no_record(world: FakeWorld) -> None:
    job_id = submitted(world)
    JobService.from_backends(world.backends).delete(job_id, ALPHA)
    assert world.store.count_attempt(job_id) == -1
    assert world.store.records == {}


def test_a_record_that_cannot_be_read_is_no_job(world: FakeWorld) -> None:
    from chalicelib.core.errors import JobNotFound

    world.store.set_fields("b" * 32, attempts="1")  # a partial record, no TTL
    assert world.store.get("b" * 32) is None
    with pytest.raises(JobNotFound):
        JobService.from_backends(world.backends).get("b" * 32, ALPHA)


def test_a_batch_job_ending_feeds_the_next_and_the_last_reports_the_batch(
    world: FakeWorld,
) -> None:
    from chalicelib.api.batches import BatchService

    tenant, _ = world.backends.tenants.create("gamma", "Gamma", {"jobs_in_flight": 1})
    service = BatchService.from_backends(world.backends, JobService.from_backends(world.backends))
    images = [imagegen.jpeg(64, 48), imagegen.jpeg(48, 64)]
    accepted = service.submit_files(tenant, images, "two", None)
    first, second = accepted.job_ids
    assert world.queue.enqueued == [first]
    assert run(first) == "completed"
    assert world.queue.enqueued == [first, second]
    assert run(second) == "completed"
    body = service.status(accepted.batch_id, tenant)
    assert body["status"] == "completed" and body["counts"]["completed"] == 2
    # No callback: the batch is reported (claimed) without a webhook to queue.
    assert world.backends.batches.get(accepted.batch_id).notified_at is not None  # type: ignore[union-attr]
    assert world.queue.batch_reports == []
