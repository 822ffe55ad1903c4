"""The reconciler over fakes, with the clock passed in (``now=``), never slept on."""

from __future__ import annotations

import time

from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job
from chalicelib.jobs.reconcile import reconcile
from tests.support.fakes import fake_world

T0 = 1_800_000_000.0


def job(world, job_id: str, status: str, created: float, updated: float) -> None:  # type: ignore[no-untyped-def]
    world.store.create(
        Job(job_id=job_id, status=jobs.PENDING, created_at=created, updated_at=created)
    )
    world.store.set_fields(job_id, status=status, updated_at=repr(updated))


def test_only_jobs_stuck_without_a_live_task_are_requeued() -> None:
    world = fake_world()
    job(world, "a" * 32, jobs.PENDING, T0, T0)  # pending, quiet for 120 s: stuck
    job(world, "b" * 32, jobs.PENDING, T0 + 100, T0 + 100)  # pending, 20 s: on its way
    job(world, "c" * 32, jobs.PROCESSING, T0, T0)  # processing, its lease renewed: alive
    world.store.take_lease("c" * 32, "worker-1", 30)
    job(world, "d" * 32, jobs.PROCESSING, T0, T0 + 110)  # processing, no lease: stuck
    job(world, "e" * 32, jobs.PENDING, T0, T0)  # stuck, but delivered 30 s ago
    world.queue.unacked["e" * 32] = T0 + 90
    job(world, "f" * 32, jobs.PENDING, T0, T0)  # delivered 200 s ago: a stale entry
    world.queue.unacked["f" * 32] = T0 - 80
    job(world, "g" * 32, jobs.PROCESSING, T0, T0)  # no lease, but delivered just now:
    world.queue.unacked["g" * 32] = T0 + 119  # a lost delivery is no evidence for it
    job(world, "h" * 32, jobs.PROCESSING, T0, T0)  # no lease, waiting in the queue again
    world.queue.enqueued.append("h" * 32)
    report = reconcile(
        world.store,
        world.queue,
        world.queue,
        pending_grace=30,
        delivery_trusted_for=60,
        now=T0 + 120,
    )
    assert sorted(report.requeued) == ["a" * 32, "d" * 32, "f" * 32, "g" * 32]
    assert world.queue.enqueued == ["h" * 32, *report.requeued]


def test_final_and_vanished_jobs_leave_the_active_index() -> None:
    world = fake_world()
    job(world, "a" * 32, jobs.PENDING, T0, T0)
    world.store.transition("a" * 32, jobs.FAILED)
    world.store.add_active("f" * 32, T0)  # its record expired
    report = reconcile(
        world.store,
        world.queue,
        world.queue,
        pending_grace=30,
        delivery_trusted_for=60,
        now=T0 + 120,
    )
    assert sorted(report.forgotten) == ["f" * 32]
    assert world.store.active == {} and world.queue.enqueued == []


def ended_with_callback(world, job_id: str, batch_id: str = "") -> None:  # type: ignore[no-untyped-def]
    world.store.create(
        Job(
            job_id=job_id,
            status=jobs.PENDING,
            created_at=T0,
            updated_at=T0,
            callback_url="https://hooks.example/x",
            batch_id=batch_id,
        )
    )
    world.store.transition(job_id, jobs.FAILED)


def passes(world, now: float):  # type: ignore[no-untyped-def]
    return reconcile(
        world.store, world.queue, world.queue, pending_grace=30, delivery_trusted_for=60, now=now
    )


def test_a_webhook_lost_after_the_final_status_is_queued_again_once_due() -> None:
    world = fake_world()
    ended_with_callback(world, "a" * 32)
    ended_with_callback(world, "b" * 32, batch_id="c" * 32)  # a batch's job: the batch's report
    world.store.create(Job(job_id="d" * 32, status=jobs.PENDING, created_at=T0, updated_at=T0))
    world.store.transition("d" * 32, jobs.FAILED)  # no callback: nothing to send
    now = time.time()
    # The final status put it in the outbox; while its delivery may be under way, it waits.
    assert world.store.webhooks_due(now + 3600) == ["a" * 32]
    assert passes(world, now + 60).webhooks_requeued == []
    # Its queued delivery never took it out (the message was lost): sent again, once.
    assert passes(world, now + 601).webhooks_requeued == ["a" * 32]
    assert world.queue.webhooks == ["a" * 32]
    assert passes(world, now + 602).webhooks_requeued == []
    # Delivered (or refused, or given up): out for good.
    world.store.webhook_done("a" * 32)
    assert passes(world, now + 99_999).webhooks_requeued == []


def test_a_deleted_jobs_webhook_leaves_the_outbox() -> None:
    world = fake_world()
    ended_with_callback(world, "a" * 32)
    ended_with_callback(world, "b" * 32)
    world.store.delete("a" * 32)
    world.store.client.delete(world.store.key("b" * 32))  # expired with its TTL
    report = passes(world, time.time() + 601)
    assert report.webhooks_requeued == [] and world.queue.webhooks == []
    assert world.store.webhooks_due(time.time() + 99_999) == []
