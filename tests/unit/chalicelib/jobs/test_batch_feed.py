"""The batch feeder on the fast tier's backends: waiting jobs enter the queue only as the
tenant's slots free, single jobs keep their share, and the reconciler's pass finishes
what a crash left half done (an end not counted, a report not queued, a job not queued)."""

from __future__ import annotations

import time

import pytest

from chalicelib.api.batches import BatchService
from chalicelib.api.service import JobService
from chalicelib.core.settings import Settings
from chalicelib.jobs import model as jobs
from chalicelib.jobs.batch_feed import reconcile_batches
from chalicelib.jobs.reconcile import reconcile_stuck_jobs
from chalicelib.tenancy.limits import batch_slots
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import FakeWorld, fake_world

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture()
def world() -> FakeWorld:
    return fake_world(
        Settings.from_env({"ALLOW_PRIVATE_CALLBACKS": "true", "WEBHOOK_PORTS": "any"})
    )


@pytest.fixture()
def tenant(world: FakeWorld) -> Tenant:
    made, _ = world.backends.tenants.create("alpha", "Alpha", {"jobs_in_flight": 5})
    return made


@pytest.fixture()
def service(world: FakeWorld) -> BatchService:
    return BatchService.from_backends(world.backends, JobService.from_backends(world.backends))


def batch(service: BatchService, tenant: Tenant, count: int) -> tuple[str, list[str]]:
    images = [imagegen.jpeg(30 + i, 20) for i in range(count)]
    accepted = service.submit_files(tenant, images, "", None, callback_url=HOOK)
    return accepted.batch_id, accepted.job_ids


def end(world: FakeWorld, job_id: str, status: str = jobs.COMPLETED, tell: bool = True) -> None:
    """What a worker does when a job ends: its status, its slot back, the feeder told."""
    world.store.transition(job_id, jobs.PROCESSING)
    world.store.transition(job_id, status)
    job = world.store.get(job_id)
    assert job is not None
    world.backends.quotas.release_job(job.tenant_id, job_id)
    if tell:
        feeder = world.backends.batch_feeder()
        feeder.job_ended(job.batch_id, job_id)
        feeder.feed_tenant(job.tenant_id)


@pytest.mark.parametrize(("limit", "slots"), [(0, 0), (1, 1), (2, 1), (5, 4), (20, 16)])
def test_batches_leave_single_jobs_a_fifth_of_the_slots(limit: int, slots: int) -> None:
    assert batch_slots(limit) == slots


def test_jobs_enter_the_queue_as_slots_free_and_the_batch_reports_once(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    batch_id, job_ids = batch(service, tenant, 9)
    assert world.queue.enqueued == job_ids[:4]
    for job_id in job_ids[:4]:
        end(world, job_id)
    assert world.queue.enqueued == job_ids[:8]
    end(world, job_ids[4], jobs.FAILED)
    assert world.queue.enqueued == job_ids
    for job_id in job_ids[5:]:
        assert world.queue.batch_reports == []
        end(world, job_id)
    assert world.queue.batch_reports == [batch_id]
    body = service.status(batch_id, tenant)
    assert body["status"] == "partial" and body["counts"]["failed"] == 1
    assert body["jobs"][4]["status"] == "failed"
    assert world.backends.quotas.usage("alpha")["jobs_in_flight"] == 0


def test_a_single_job_is_admitted_while_a_batch_fills_its_slots(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    batch(service, tenant, 20)
    jobs_service = service.jobs
    single = jobs_service.validate(imagegen.jpeg(50, 40), "solo", None, tenant=tenant)
    accepted = jobs_service.submit(single, tenant)
    assert world.queue.enqueued[-1] == accepted.job_id
    # Its end frees a slot the batch may not take: a fifth stays for single jobs.
    end(world, accepted.job_id)
    assert len(world.queue.enqueued) == 5


def test_the_reconciler_never_queues_a_job_still_waiting_in_its_batch(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    _, job_ids = batch(service, tenant, 6)
    settings = world.backends.settings
    later = time.time() + settings.reconcile_pending_grace + 1
    report = reconcile_stuck_jobs(
        world.store, world.queue, world.queue, settings, world.backends.batches, now=later
    )
    # The four queued ones are in the queue; the two waiting ones are not stuck.
    assert report.requeued == []
    assert world.queue.enqueued == job_ids[:4]


def test_the_reconcilers_pass_counts_missed_ends_feeds_and_reports(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    batch_id, job_ids = batch(service, tenant, 6)
    # The workers ended the first four but died before telling the batch.
    for job_id in job_ids[:4]:
        end(world, job_id, tell=False)
    later = time.time() + world.backends.settings.reconcile_pending_grace + 1
    assert reconcile_batches(world.backends.batch_feeder(), now=time.time()).checked == 0
    report = reconcile_batches(world.backends.batch_feeder(), now=later)
    assert report.queued == job_ids[4:]
    assert sorted(report.ends_found) == sorted(job_ids[:4])
    assert world.queue.batch_reports == []
    for job_id in job_ids[4:]:
        end(world, job_id, tell=False)
    assert reconcile_batches(world.backends.batch_feeder(), now=later).finished == [batch_id]
    assert world.queue.batch_reports == [batch_id]
    assert reconcile_batches(world.backends.batch_feeder(), now=later).finished == []


def test_a_report_the_queue_refused_is_sent_by_a_later_pass(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    batch_id, job_ids = batch(service, tenant, 1)
    world.queue.down = True
    with pytest.raises(Exception, match="unavailable"):
        end(world, job_ids[0])
    assert world.queue.batch_reports == []
    world.queue.down = False
    later = time.time() + world.backends.settings.reconcile_pending_grace + 1
    assert reconcile_batches(world.backends.batch_feeder(), now=later).finished == [batch_id]
    assert world.queue.batch_reports == [batch_id]


def test_a_job_the_queue_refused_while_being_fed_is_queued_by_the_reconciler(
    world: FakeWorld, service: BatchService, tenant: Tenant
) -> None:
    world.queue.down = True
    _, job_ids = batch(service, tenant, 2)  # recorded; feeding could not queue them
    assert world.queue.enqueued == []
    world.queue.down = False
    settings = world.backends.settings
    later = time.time() + settings.reconcile_pending_grace + 1
    report = reconcile_stuck_jobs(
        world.store, world.queue, world.queue, settings, world.backends.batches, now=later
    )
    assert sorted(report.requeued) == sorted(job_ids)
