"""A batch's status from its jobs' (pure), and its store on fakeredis: the report is
claimed once, only when every job has ended; pages of its jobs."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.jobs import model as jobs
from chalicelib.jobs.batches import (
    Batch,
    BatchStore,
    batch_status,
    count_statuses,
)

IDS = [f"{i:032x}" for i in range(5)]


def counts(*statuses: str | None) -> dict[str, int]:
    return count_statuses({str(i): s for i, s in enumerate(statuses)})


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("pending", "pending"), "pending"),
        (("pending", "processing"), "processing"),
        (("pending", "completed"), "processing"),
        (("completed", "completed"), "completed"),
        (("failed", "failed"), "failed"),
        (("completed", "failed"), "partial"),
        (("completed", None), "completed"),
    ],
)
def test_a_batch_status_follows_its_jobs(statuses: tuple[str | None, ...], expected: str) -> None:
    assert batch_status(counts(*statuses)) == expected


def test_counts_name_every_status_and_gone_jobs_as_deleted() -> None:
    assert counts("pending", "failed", None, None) == {
        "pending": 1,
        "processing": 0,
        "completed": 0,
        "failed": 1,
        "deleted": 2,
    }


@pytest.fixture()
def store() -> BatchStore:
    return BatchStore(fakeredis.FakeRedis(decode_responses=True), 3600, namespace="t:")


def make(store: BatchStore, total: int = 3, callback: str = "http://hook") -> Batch:
    batch = Batch("b" * 32, "alpha", 1000.0, total, callback_url=callback)
    store.create(batch, IDS[:total], heavy=[IDS[0]], reconcile_after=1060.0)
    return batch


def test_a_new_batch_has_every_job_waiting_in_order(store: BatchStore) -> None:
    batch = make(store)
    assert store.get(batch.batch_id) == batch
    assert store.job_ids(batch.batch_id) == IDS[:3]
    assert store.job_ids(batch.batch_id, 1, 1) == [IDS[1]]
    assert store.waiting_count(batch.batch_id) == 3 and store.is_waiting(batch.batch_id, IDS[2])
    # The reconciler looks at it only after its grace.
    assert store.open_before(1059.0) == [] and store.open_before(1060.0) == [batch.batch_id]


def test_the_report_is_claimed_once_and_only_when_every_job_ended(store: BatchStore) -> None:
    batch = make(store)
    store.mark_ended(batch.batch_id, IDS[0], IDS[1])
    assert not store.try_finish(batch.batch_id)
    store.mark_ended(batch.batch_id, IDS[1], IDS[2])  # marking one twice counts it once
    assert store.try_finish(batch.batch_id, now=2000.0)
    assert not store.try_finish(batch.batch_id)
    assert store.get(batch.batch_id).notified_at == 2000.0  # type: ignore[union-attr]
    assert store.open_before(10**10) == []


def test_a_report_that_could_not_be_queued_is_claimed_again(store: BatchStore) -> None:
    batch = make(store, total=1)
    store.mark_ended(batch.batch_id, IDS[0])
    assert store.try_finish(batch.batch_id)
    store.unfinish(batch.batch_id, now=3000.0)
    assert store.open_before(3000.0) == [batch.batch_id]
    assert store.try_finish(batch.batch_id)


def test_a_deleted_batch_leaves_nothing_behind(store: BatchStore) -> None:
    batch = make(store)
    store.start_feeding("alpha", batch.batch_id, 1000.0)
    store.mark_ended(batch.batch_id, IDS[0])
    store.delete(batch)
    assert store.get(batch.batch_id) is None
    assert store.feeding("alpha") == [] and store.open_before(10**10) == []
    assert list(store._redis.scan_iter("t:batch:*")) == []
    assert not store.try_finish(batch.batch_id)


def test_statuses_are_read_in_one_pass(store: BatchStore) -> None:
    from tests.support.fakes import fake_world

    world = fake_world()
    job = jobs.Job(job_id=IDS[0], status=jobs.PENDING, created_at=1.0, updated_at=1.0)
    world.store.create(job)
    assert world.store.statuses([IDS[0], IDS[1]]) == {IDS[0]: "pending", IDS[1]: None}
    assert world.store.statuses([]) == {}
