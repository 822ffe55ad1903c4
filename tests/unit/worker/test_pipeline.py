"""A job's uploads: each output as soon as it is encoded, several at once, all ended
before the job is marked completed or raises; the task's outcomes as before.

The task body runs directly on the fast tier's backends, with an object store whose
puts can wait for another upload to begin, or fail, by output name.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest

from chalicelib.api.service import JobService
from chalicelib.backends import Backends
from chalicelib.core.errors import JobTimeout, ServiceUnavailable, StorageError
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import FakeRedisJobStore, InMemoryObjectStore, fake_world
from worker import tasks
from worker.deadline import Deadline

ALPHA = Tenant("alpha", "Alpha")
# Long enough never to pass while the code works; a wait that does pass is a failure.
PATIENCE = 20.0


class WatchedObjectStore(InMemoryObjectStore):
    """The in-memory object store, watching a job's uploads (keys under the results folder).

    ``before[name]`` runs in the put of that output (``result`` for result.json) before
    it stores anything; ``failures[name]`` is raised instead of storing it. Each put
    notes the job's status as it ends.
    """

    def __init__(self, settings: Settings, job_store: FakeRedisJobStore) -> None:
        super().__init__(settings)
        self._jobs = job_store
        self._lock = threading.Lock()
        self._begun: dict[str, threading.Event] = {}
        self.in_flight = 0
        self.before: dict[str, Callable[[], None]] = {}
        self.failures: dict[str, Exception] = {}
        self.status_at_end: dict[str, str] = {}

    def begun(self, name: str) -> threading.Event:
        with self._lock:
            return self._begun.setdefault(name, threading.Event())

    def wait_for(self, name: str) -> Callable[[], None]:
        """A ``before`` step: wait until the upload of ``name`` has begun."""

        def step() -> None:
            if not self.begun(name).wait(PATIENCE):
                raise AssertionError(f"the upload of {name} never began")

        return step

    def put(self, key: str, data: bytes, content_type: str, **extra: object) -> None:
        job_id, filename = key.split("/")[-2:]
        if key != self.output_key(job_id, filename):  # the source, put at submit
            return super().put(key, data, content_type, **extra)
        name = filename.split(".")[0]
        with self._lock:
            self.in_flight += 1
        self.begun(name).set()
        try:
            if name in self.before:
                self.before[name]()
            if name in self.failures:
                raise self.failures[name]
            super().put(key, data, content_type, **extra)
        finally:
            job = self._jobs.get(job_id)
            with self._lock:
                self.in_flight -= 1
                self.status_at_end[name] = job.status if job else "gone"


@pytest.fixture()
def backends(monkeypatch: pytest.MonkeyPatch) -> Backends:
    world = fake_world()
    objects = WatchedObjectStore(world.backends.settings, world.store)
    backends = dataclasses.replace(world.backends, objects=objects)
    monkeypatch.setattr(tasks, "get_context", lambda: backends)
    return backends


def watched(backends: Backends) -> WatchedObjectStore:
    assert isinstance(backends.objects, WatchedObjectStore)
    return backends.objects


def submitted(backends: Backends) -> str:
    service = JobService.from_backends(backends)
    # With a text, so three outputs: thumbnail, preview, captioned.
    submission = service.validate(imagegen.jpeg(1600, 1200), "Three outputs.", None)
    return service.submit(submission, ALPHA).job_id


def lease(backends: Backends, job_id: str) -> tasks.JobLease:
    return tasks.JobLease(backends.store, job_id, "test-worker", 30)


def status(backends: Backends, job_id: str) -> jobs.Job:
    job = backends.store.get(job_id)
    assert job is not None
    return job


def test_an_output_uploads_while_the_next_ones_are_encoded(backends: Backends) -> None:
    objects = watched(backends)
    # The thumbnail's upload holds until the captioned output (encoded last) is uploading:
    # were outputs stored one after another once all were encoded, it would never end.
    objects.before["thumbnail"] = objects.wait_for("captioned")
    job_id = submitted(backends)
    assert tasks.process_job(job_id=job_id) == "completed"
    job = status(backends, job_id)
    assert [o["name"] for o in job.result["outputs"]] == ["thumbnail", "preview", "captioned"]
    prefix = objects.result_prefix(job_id)
    for name in ("thumbnail.jpg", "preview.jpg", "captioned.jpg", "result.json"):
        assert prefix + name in objects.objects


def test_the_job_is_completed_only_once_every_upload_has_ended(backends: Backends) -> None:
    objects = watched(backends)
    # The preview is still uploading when result.json begins (after the last encode).
    objects.before["preview"] = objects.wait_for("result")
    job_id = submitted(backends)
    assert tasks.process_job(job_id=job_id) == "completed"
    assert objects.status_at_end == {
        name: jobs.PROCESSING for name in ("thumbnail", "preview", "captioned", "result")
    }
    assert "upload" in status(backends, job_id).result["timings_ms"]


def test_one_failing_upload_raises_its_error_once_the_others_have_ended(
    backends: Backends,
) -> None:
    objects = watched(backends)
    objects.failures["preview"] = ServiceUnavailable("The object store is unavailable.")
    ended = threading.Event()

    def slow_thumbnail() -> None:
        objects.wait_for("preview")()
        time.sleep(0.2)  # still uploading when the preview's fails
        ended.set()

    objects.before["thumbnail"] = slow_thumbnail
    job_id = submitted(backends)
    with pytest.raises(ServiceUnavailable):
        tasks.process(backends, job_id, Deadline(60), lease(backends, job_id))
    assert ended.is_set() and objects.in_flight == 0


def test_a_passing_upload_failure_is_retried_then_fails_as_before(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(tasks, "sleep", waits.append)
    objects = watched(backends)
    objects.failures["preview"] = ServiceUnavailable("The object store is unavailable.")
    objects.before["thumbnail"] = lambda: time.sleep(0.05)  # still uploading as the preview fails
    job_id = submitted(backends)
    # Retried in place (the waits recorded, not slept) until the retries are spent.
    outcome = tasks.process_job.apply(kwargs={"job_id": job_id})
    assert outcome.result == "failed" and len(waits) == tasks.settings.task_max_retries
    job = status(backends, job_id)
    assert job.error_code == "service_unavailable" and job.attempts == 1
    assert objects.in_flight == 0 and objects.status_at_end["thumbnail"] == jobs.PROCESSING


def test_a_refused_upload_fails_the_job_at_once(backends: Backends) -> None:
    objects = watched(backends)
    objects.failures["captioned"] = StorageError()
    objects.before["thumbnail"] = lambda: time.sleep(0.2)  # still uploading as the caption fails
    job_id = submitted(backends)
    assert tasks.process_job(job_id=job_id) == "failed"
    job = status(backends, job_id)
    assert job.error_code == "storage_error" and job.attempts == 1
    assert objects.in_flight == 0


def test_a_deadline_passing_while_outputs_upload_times_the_job_out(backends: Backends) -> None:
    objects = watched(backends)
    expired = threading.Event()
    deadline = Deadline(60, clock=lambda: 1e9 if expired.is_set() else 0.0)

    def expire_then_store() -> None:
        expired.set()
        time.sleep(0.2)  # still uploading when the main thread finds the deadline passed

    objects.before["thumbnail"] = expire_then_store
    job_id = submitted(backends)
    with pytest.raises(JobTimeout):
        tasks.process(backends, job_id, deadline, lease(backends, job_id))
    assert objects.in_flight == 0
    assert status(backends, job_id).status == jobs.PROCESSING  # the task fails it (timeout)


def test_a_rerun_writes_the_same_keys(backends: Backends) -> None:
    objects = watched(backends)
    objects.failures["result"] = ServiceUnavailable("The object store is unavailable.")
    job_id = submitted(backends)
    with pytest.raises(ServiceUnavailable):
        tasks.process(backends, job_id, Deadline(60), lease(backends, job_id))
    first = {key for key in objects.objects if key.startswith(objects.result_prefix(job_id))}
    del objects.failures["result"]
    assert tasks.process(backends, job_id, Deadline(60), lease(backends, job_id)) == "completed"
    second = {key for key in objects.objects if key.startswith(objects.result_prefix(job_id))}
    assert first < second and second - first == {objects.result_prefix(job_id) + "result.json"}


def test_progress_moves_per_stage_and_per_stored_output(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[tuple[int, str]] = []
    update = backends.store.update_while

    def noting(job_id: str, status: str, **fields: object) -> bool:
        if "progress" in fields:
            written.append((int(str(fields["progress"])), str(fields.get("message", ""))))
        return update(job_id, status, **fields)

    monkeypatch.setattr(backends.store, "update_while", noting)
    job_id = submitted(backends)
    assert tasks.process_job(job_id=job_id) == "completed"
    percents = [percent for percent, _ in written]
    assert percents == sorted(percents) and percents[-1] == 95
    messages = [message for _, message in written]
    assert {"Image: probe.", "Image: decode.", "Image: resize."} <= set(messages)
    stored = [m for m in messages if m.startswith("Stored ")]
    assert len(stored) == 3 and stored[-1].endswith("(3 of 3).")
    assert (95, stored[-1]) in written


def test_encode_time_is_the_encoders_own_summed_over_the_outputs(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.imaging import process

    real_encode = process.encode_output

    def slow_encode(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.1)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(process, "encode_output", slow_encode)
    job_id = submitted(backends)
    assert tasks.process_job(job_id=job_id) == "completed"
    # Three outputs, each at least 100 ms on the imaging threads, beside the caption
    # and facts stages: the wait for the last of them alone was far less (it read ~0).
    assert status(backends, job_id).result["timings_ms"]["encode"] >= 300
