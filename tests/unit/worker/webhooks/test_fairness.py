"""The webhook gate on fakeredis (its Lua script included): caps per tenant and host, breaker."""

from __future__ import annotations

import fakeredis
import pytest

from worker.webhooks.fairness import (
    BREAKER_TIMEOUTS,
    FIRST_ATTEMPT_SECONDS,
    HOST_IN_FLIGHT,
    TENANT_IN_FLIGHT,
    DeliveryGate,
    attempt_seconds,
)


@pytest.fixture()
def gate() -> DeliveryGate:
    return DeliveryGate(fakeredis.FakeRedis(decode_responses=True), prefix="t:")


def test_a_tenant_holds_at_most_its_share_of_attempts(gate: DeliveryGate) -> None:
    for n in range(TENANT_IN_FLIGHT):
        assert gate.enter("a", f"host{n}:80", f"a{n}", 10, now=0) is None
    assert gate.enter("a", "other:80", "a-more", 10, now=0) == "tenant"
    # Another tenant is not held by it.
    assert gate.enter("b", "host0:80", "b0", 10, now=0) is None
    gate.leave("a", "host0:80", "a0")
    assert gate.enter("a", "other:80", "a-more", 10, now=0) is None


def test_a_host_holds_at_most_its_share_of_attempts(gate: DeliveryGate) -> None:
    for n in range(HOST_IN_FLIGHT):
        assert gate.enter(f"t{n}", "slow:443", f"x{n}", 10, now=0) is None
    assert gate.enter("late", "slow:443", "late", 10, now=0) == "host"


def test_an_attempt_whose_thread_died_lapses(gate: DeliveryGate) -> None:
    for n in range(TENANT_IN_FLIGHT):
        gate.enter("a", "h:80", f"a{n}", 3, now=0)
    assert gate.enter("a", "h:80", "next", 3, now=1) == "tenant"
    assert gate.enter("a", "h:80", "next", 3, now=100) is None


def test_a_host_that_keeps_timing_out_is_not_called_for_a_while(gate: DeliveryGate) -> None:
    for _ in range(BREAKER_TIMEOUTS - 1):
        gate.timed_out("dead:80")
    assert gate.enter("a", "dead:80", "x", 3) is None
    gate.leave("a", "dead:80", "x")
    gate.timed_out("dead:80")
    assert gate.enter("b", "dead:80", "y", 3) == "circuit-open"
    assert gate.enter("b", "alive:80", "y", 3) is None


def test_an_answer_ends_a_run_of_timeouts(gate: DeliveryGate) -> None:
    for _ in range(BREAKER_TIMEOUTS - 1):
        gate.timed_out("flaky:80")
    gate.answered("flaky:80")
    gate.timed_out("flaky:80")
    assert gate.enter("a", "flaky:80", "x", 3) is None


def test_the_first_attempt_is_short() -> None:
    assert attempt_seconds(0, 10) == FIRST_ATTEMPT_SECONDS
    assert attempt_seconds(1, 10) == 10
    assert attempt_seconds(0, 1) == 1
