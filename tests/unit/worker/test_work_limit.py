"""The work limit: a deadline from the price whose signal stops a call running at the limit."""

from __future__ import annotations

import signal
import time

import pytest

from chalicelib.core.errors import WorkLimitExceeded
from worker.work_limit import WorkLimit


def _spin(seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


def test_the_signal_stops_a_call_running_at_the_limit() -> None:
    limit = WorkLimit(0.2, price_ms=30)
    with pytest.raises(WorkLimitExceeded), limit.armed():
        _spin(30)
    assert limit.struck and limit.expired()
    with pytest.raises(WorkLimitExceeded):
        limit.check()


def test_another_cpu_timer_of_the_process_is_put_back() -> None:
    def other(_signum: int, _frame: object) -> None:
        raise AssertionError("the other timer fired")

    before = signal.signal(signal.SIGPROF, other)
    old = signal.setitimer(signal.ITIMER_PROF, 50)
    try:
        with WorkLimit(5).armed():
            pass
        assert signal.getsignal(signal.SIGPROF) is other
        assert 40 < signal.getitimer(signal.ITIMER_PROF)[0] <= 50.1  # ticks round up
        # A timer due before the limit is left alone: the stage boundaries keep it.
        signal.setitimer(signal.ITIMER_PROF, 2)
        with WorkLimit(5).armed():
            assert signal.getsignal(signal.SIGPROF) is other
    finally:
        signal.setitimer(signal.ITIMER_PROF, *old)
        signal.signal(signal.SIGPROF, before)


def test_the_limit_counts_work_not_waiting() -> None:
    limit = WorkLimit(0.2)
    with limit.armed():
        time.sleep(0.5)  # a busy machine, or a wait for S3: no work done
    limit.check()


def test_a_limit_not_reached_changes_nothing() -> None:
    limit = WorkLimit(30)
    with limit.armed():
        _spin(0.01)
    limit.check()
    assert not limit.struck and 0 < limit.used_ms() < 30_000
