"""The job store's leases, the real Lua scripts run by fakeredis."""

from __future__ import annotations

import time

import fakeredis

from chalicelib.jobs.store import RedisJobStore

JOB = "a" * 32


def store() -> RedisJobStore:
    return RedisJobStore(fakeredis.FakeRedis(decode_responses=True), 3600, namespace="t:")


def test_a_lease_is_taken_once_renewed_by_its_owner_and_dropped_by_it_only() -> None:
    jobs = store()
    assert jobs.take_lease(JOB, "one", 30)
    assert jobs.lease_holder(JOB) == "one"
    assert not jobs.take_lease(JOB, "two", 30)
    assert jobs.take_lease(JOB, "one", 30)  # a renewal
    jobs.drop_lease(JOB, "two")
    assert jobs.lease_holder(JOB) == "one"
    jobs.drop_lease(JOB, "one")
    assert jobs.lease_holder(JOB) is None
    assert jobs.take_lease(JOB, "two", 30)


def test_a_lease_lapses_unless_renewed() -> None:
    jobs = store()
    assert jobs.take_lease(JOB, "one", 0.2)
    time.sleep(0.3)
    assert jobs.lease_holder(JOB) is None
    assert jobs.take_lease(JOB, "two", 30)


def test_a_dead_holders_lease_is_replaced_only_when_named() -> None:
    jobs = store()
    assert jobs.take_lease(JOB, "dead", 30)
    assert not jobs.take_lease(JOB, "new", 30, replacing="someone-else")
    assert jobs.take_lease(JOB, "new", 30, replacing="dead")
    assert jobs.lease_holder(JOB) == "new"
    assert jobs.namespaced("lease:") == "t:lease:" and jobs.lease_key(JOB) == f"t:lease:{JOB}"
