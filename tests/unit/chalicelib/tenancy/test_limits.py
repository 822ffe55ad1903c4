"""Per-tenant quotas, atomic in Redis (fakeredis runs the same Lua), with the clock passed in."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.core.errors import RateLimited
from chalicelib.tenancy.limits import STALE_AFTER_SECONDS, TenantLimits, TenantQuotas

LIMITS = TenantLimits(
    requests_per_second=2.0,
    burst=3,
    jobs_in_flight=2,
    heavy_jobs_in_flight=1,
    work_seconds_per_hour=10,
)
T0 = 1_800_000_000.0  # on the hour


@pytest.fixture()
def quotas() -> TenantQuotas:
    return TenantQuotas(fakeredis.FakeRedis(decode_responses=True), prefix="t:")


def refused(call, *args, **kwargs) -> RateLimited:  # type: ignore[no-untyped-def]
    with pytest.raises(RateLimited) as caught:
        call(*args, **kwargs)
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    return caught.value


def test_a_burst_then_the_steady_rate(quotas: TenantQuotas) -> None:
    for _ in range(3):
        quotas.take_request("a", LIMITS, now=T0)
    error = refused(quotas.take_request, "a", LIMITS, now=T0)
    assert error.details == {"retry_after": 1, "limit": "requests_per_second"}
    # Half a second later one token (2 a second) is back, and one only.
    quotas.take_request("a", LIMITS, now=T0 + 0.5)
    refused(quotas.take_request, "a", LIMITS, now=T0 + 0.5)
    # Tenants do not share buckets.
    quotas.take_request("b", LIMITS, now=T0)


def test_jobs_in_flight_until_one_ends(quotas: TenantQuotas) -> None:
    quotas.admit_job("a", "j1", 100, heavy=False, limits=LIMITS, now=T0)
    quotas.admit_job("a", "j2", 100, heavy=False, limits=LIMITS, now=T0)
    error = refused(quotas.admit_job, "a", "j3", 100, heavy=False, limits=LIMITS, now=T0)
    assert error.details["limit"] == "jobs_in_flight" and error.details["retry_after"] >= 1
    quotas.release_job("a", "j1")
    quotas.admit_job("a", "j3", 100, heavy=False, limits=LIMITS, now=T0)
    assert quotas.usage("a", now=T0)["jobs_in_flight"] == 2


def test_a_job_never_released_stops_counting_when_stale(quotas: TenantQuotas) -> None:
    quotas.admit_job("a", "j1", 1, heavy=False, limits=LIMITS, now=T0)
    quotas.admit_job("a", "j2", 1, heavy=False, limits=LIMITS, now=T0)
    later = T0 + STALE_AFTER_SECONDS + 1
    quotas.admit_job("a", "j3", 1, heavy=False, limits=LIMITS, now=later)


def test_heavy_jobs_have_a_smaller_limit(quotas: TenantQuotas) -> None:
    quotas.admit_job("a", "h1", 2000, heavy=True, limits=LIMITS, now=T0)
    error = refused(quotas.admit_job, "a", "h2", 2000, heavy=True, limits=LIMITS, now=T0)
    assert error.details["limit"] == "heavy_jobs_in_flight"
    quotas.admit_job("a", "light", 100, heavy=False, limits=LIMITS, now=T0)


def test_work_per_hour_in_a_sliding_hour(quotas: TenantQuotas) -> None:
    roomy = TenantLimits(100.0, 100, 100, 100, work_seconds_per_hour=10)
    quotas.admit_job("a", "j1", 6000, heavy=True, limits=roomy, now=T0 + 600)
    error = refused(quotas.admit_job, "a", "j2", 6000, heavy=True, limits=roomy, now=T0 + 600)
    # This hour's 6 s slide out through the next one: 4 s of room 1,200 s into it.
    assert error.details == {"retry_after": 3000 + 1200, "limit": "work_seconds_per_hour"}
    assert quotas.usage("a", now=T0 + 600)["work_seconds_this_hour"] == 6.0
    # Refused jobs are not counted; a new clock hour is not a fresh limit.
    refused(quotas.admit_job, "a", "j2", 6000, heavy=True, limits=roomy, now=T0 + 3600)
    quotas.admit_job("a", "j2", 6000, heavy=True, limits=roomy, now=T0 + 3600 + 1200)


def test_the_hourly_work_cannot_be_spent_twice_across_an_hour_boundary(
    quotas: TenantQuotas,
) -> None:
    roomy = TenantLimits(100.0, 100, 100, 100, work_seconds_per_hour=10)
    quotas.admit_job("a", "j1", 10_000, heavy=True, limits=roomy, now=T0 + 3599)
    error = refused(quotas.admit_job, "a", "j2", 10_000, heavy=True, limits=roomy, now=T0 + 3601)
    assert error.details["limit"] == "work_seconds_per_hour"
    # The answer says when the job fits: the previous hour's share has slid out.
    wait = int(error.details["retry_after"])
    quotas.admit_job("a", "j2", 10_000, heavy=True, limits=roomy, now=T0 + 3601 + wait)


def test_a_refund_gives_back_the_work(quotas: TenantQuotas) -> None:
    quotas.admit_job("a", "j1", 9000, heavy=True, limits=LIMITS, now=T0)
    quotas.refund_work("a", 9000, admitted_at=T0)
    quotas.release_job("a", "j1")
    assert quotas.usage("a", now=T0) == {
        "jobs_in_flight": 0,
        "heavy_jobs_in_flight": 0,
        "work_seconds_this_hour": 0.0,
    }
