"""BatchService on the fast tier's backends: what a batch submit stores, charges, queues
and refuses (before anything is stored); its answer; its DELETE; tenant isolation."""

from __future__ import annotations

import pytest

from chalicelib.api.batches import BatchService
from chalicelib.api.service import JobService
from chalicelib.core.errors import (
    BatchNotFound,
    IdempotencyConflict,
    InvalidBatchId,
    InvalidRequest,
    JobNotFound,
    RateLimited,
    UnknownPreset,
    UnsupportedImage,
)
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world

ALPHA = Tenant("alpha", "Alpha")
BETA = Tenant("beta", "Beta")
WEB = {"renditions": [{"name": "web", "width": 64, "format": "webp"}]}


def limited(world: FakeWorld, **limits: float) -> Tenant:
    """Alpha stored with its own limits: the feeder reads them from the store."""
    tenant, _ = world.backends.tenants.create("alpha", "Alpha", limits)
    return tenant


@pytest.fixture()
def world() -> FakeWorld:
    return fake_world(
        Settings.from_env({"ALLOW_PRIVATE_CALLBACKS": "true", "WEBHOOK_PORTS": "any"})
    )


@pytest.fixture()
def jobs_service(world: FakeWorld) -> JobService:
    return JobService.from_backends(world.backends)


@pytest.fixture()
def service(world: FakeWorld, jobs_service: JobService) -> BatchService:
    return BatchService.from_backends(world.backends, jobs_service)


def images(count: int) -> list[bytes]:
    return [imagegen.jpeg(40 + i, 30) for i in range(count)]


def submit(
    service: BatchService,
    count: int = 3,
    tenant: Tenant = ALPHA,
    preset: str | None = None,
    callback: str | None = None,
    key: str | None = None,
) -> tuple[str, list[str]]:
    accepted = service.submit_files(
        tenant, images(count), "album", None, preset, callback, idempotency_key=key
    )
    return accepted.batch_id, accepted.job_ids


def test_a_batch_records_every_job_and_queues_what_the_slots_allow(
    service: BatchService, world: FakeWorld
) -> None:
    tenant = limited(world, jobs_in_flight=5)  # a fifth (one) is kept for single jobs
    batch_id, job_ids = submit(service, count=7, tenant=tenant)
    assert len(job_ids) == 7
    for job_id in job_ids:
        job = world.store.get(job_id)
        assert job is not None and job.batch_id == batch_id and job.callback_url is None
    assert world.queue.enqueued == job_ids[:4]
    body = service.status(batch_id, tenant)
    assert body["status"] == "pending" and body["total"] == 7
    assert body["counts"]["pending"] == 7
    waiting = world.store.get(job_ids[5])
    assert waiting is not None and waiting.message == "Waiting in its batch."


def test_every_item_is_charged_at_submit_and_a_batch_over_the_hour_is_refused_whole(
    service: BatchService, world: FakeWorld
) -> None:
    cost = service.jobs.price(service.validate_files(ALPHA, images(1), "", None, None, None)[0])
    per_hour = 1  # second: enough for a few items, not for all of them
    count = int(per_hour * 1000 / cost.total_ms) + 2
    tenant = limited(world, work_seconds_per_hour=per_hour)
    with pytest.raises(RateLimited) as refused:
        service.submit_files(tenant, images(count), "", None)
    assert refused.value.details["limit"] == "work_seconds_per_hour"
    assert refused.value.details["retry_after"] >= 1
    assert world.store.records == {} and world.objects.objects == {}
    assert world.queue.enqueued == []
    # Under the limit, the whole price is charged at once.
    submit(service, count=2)
    assert world.backends.quotas.usage("alpha")["work_seconds_this_hour"] > 0


def test_an_unknown_preset_is_refused_before_anything_is_stored(
    service: BatchService, world: FakeWorld
) -> None:
    with pytest.raises(UnknownPreset) as refused:
        service.validate_files(ALPHA, images(2), "", None, "web", None)
    assert refused.value.status == 422 and refused.value.code == "unknown_preset"
    world.backends.presets.put("beta", "web", WEB, most=50)  # another tenant's: invisible
    with pytest.raises(UnknownPreset):
        service.validate_files(ALPHA, images(2), "", None, "web", None)
    assert world.store.records == {} and world.objects.objects == {}


def test_a_preset_gives_every_job_its_options_and_names_itself(
    service: BatchService, world: FakeWorld
) -> None:
    world.backends.presets.put("alpha", "web", WEB, most=50)
    batch_id, job_ids = submit(service, preset="web")
    job = world.store.get(job_ids[0])
    assert job is not None and job.preset == "web"
    assert [r["name"] for r in job.options["renditions"]] == ["web"]
    assert service.status(batch_id, ALPHA)["preset"] == "web"


def test_a_bad_item_is_named_and_nothing_is_stored(service: BatchService, world: FakeWorld) -> None:
    with pytest.raises(UnsupportedImage) as refused:
        service.validate_files(
            ALPHA, [imagegen.jpeg(20, 20), b"not an image"], "", None, None, None
        )
    assert refused.value.details["item"] == 1
    assert world.store.records == {}


def test_another_tenant_cannot_see_or_delete_the_batch(service: BatchService) -> None:
    batch_id, _ = submit(service)
    with pytest.raises(BatchNotFound):
        service.status(batch_id, BETA)
    with pytest.raises(BatchNotFound):
        service.delete(batch_id, BETA)
    with pytest.raises(InvalidBatchId):
        service.status("nope", ALPHA)
    assert service.status(batch_id, ALPHA)["batch_id"] == batch_id


def test_deleting_a_batch_removes_every_job_and_its_files(
    service: BatchService, jobs_service: JobService, world: FakeWorld
) -> None:
    tenant = limited(world, jobs_in_flight=2)
    batch_id, job_ids = submit(service, count=4, tenant=tenant)
    service.delete(batch_id, tenant)
    for job_id in job_ids:
        with pytest.raises(JobNotFound):
            jobs_service.get(job_id, tenant)
    assert world.objects.objects == {}
    with pytest.raises(BatchNotFound):
        service.status(batch_id, tenant)
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 0


def test_a_repeated_idempotency_key_gives_the_same_batch(
    service: BatchService, world: FakeWorld
) -> None:
    first = submit(service, key="album-1")
    again = service.submit_files(ALPHA, images(3), "album", None, idempotency_key="album-1")
    assert (again.batch_id, again.job_ids, again.created) == (*first, False)
    assert len(world.store.records) == 3
    with pytest.raises(IdempotencyConflict):
        submit(service, count=2, key="album-1")
    # A refused request gives its key back: the same key then makes a batch.
    with pytest.raises(UnsupportedImage):
        service.submit_files(ALPHA, [b"nope"], "", None, idempotency_key="album-2")
    assert submit(service, key="album-2")[0] != first[0]


def test_pages_of_jobs_with_the_counts_of_all(service: BatchService) -> None:
    batch_id, job_ids = submit(service, count=5)
    first = service.status(batch_id, ALPHA, {"limit": "2"})
    assert [j["job_id"] for j in first["jobs"]] == job_ids[:2]
    assert sum(first["counts"].values()) == 5
    rest = service.status(batch_id, ALPHA, {"limit": "100", "cursor": first["next_cursor"]})
    assert [j["job_id"] for j in rest["jobs"]] == job_ids[2:] and rest["next_cursor"] is None
    past = service.status(batch_id, ALPHA, {"cursor": "99"})
    assert past["jobs"] == [] and past["next_cursor"] is None
    for query in ({"limit": "0"}, {"limit": "101"}, {"cursor": "x"}, {"cursor": "-1"}, {"a": "1"}):
        with pytest.raises(InvalidRequest):
            service.status(batch_id, ALPHA, query)


def test_a_batch_job_deleted_on_its_own_counts_as_ended(
    service: BatchService, jobs_service: JobService, world: FakeWorld
) -> None:
    batch_id, job_ids = submit(service, count=2, callback="http://127.0.0.1:9/hook")
    for job_id in job_ids:
        world.store.transition(job_id, jobs.PROCESSING)
    world.store.transition(job_ids[0], jobs.COMPLETED)
    world.backends.batch_feeder().job_ended(batch_id, job_ids[0])
    assert world.queue.batch_reports == []
    jobs_service.delete(job_ids[1], ALPHA)
    assert world.queue.batch_reports == [batch_id]
    body = service.status(batch_id, ALPHA)
    assert body["status"] == "completed" and body["counts"]["deleted"] == 1


def test_items_run_together_and_the_first_failing_item_is_the_one_named() -> None:
    from chalicelib.api.batches import each_item
    from chalicelib.core.errors import InvalidText

    def work(index: int, item: int) -> int:
        if item in (3, 7):
            raise InvalidText(f"item {index}")
        return item * 2

    results, error = each_item(work, list(range(10)))
    assert results == [0, 2, 4, None, 8, 10, 12, None, 16, 18]
    assert error is not None and error.message == "item 3"
    assert each_item(work, [1, 2]) == ([2, 4], None)


def test_a_batch_that_cannot_be_stored_leaves_nothing_and_gives_its_work_back(
    service: BatchService, world: FakeWorld
) -> None:
    class FlakyObjects(type(world.objects)):  # type: ignore[misc]
        puts = 0

        def put(self, key: str, data: bytes, content_type: str, **extra: object) -> None:
            type(self).puts += 1
            if type(self).puts == 4:
                from chalicelib.core.errors import ServiceUnavailable

                raise ServiceUnavailable("S3 is away.")
            super().put(key, data, content_type, **extra)

    flaky = FlakyObjects(world.backends.settings)
    service.jobs.objects = flaky
    from chalicelib.core.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable):
        submit(service, count=6, key="retry-me")
    assert world.store.records == {} and flaky.objects == {}
    assert world.queue.enqueued == []
    assert world.backends.quotas.usage("alpha")["work_seconds_this_hour"] == 0
    assert list(world.backends.redis.scan_iter("batch:*")) == []
    service.jobs.objects = world.objects
    assert len(submit(service, count=2, key="retry-me")[1]) == 2  # the key was given back
