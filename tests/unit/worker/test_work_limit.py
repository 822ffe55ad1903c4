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


def test_another_alarm_of_the_process_is_put_back() -> None:
    def other(_signum: int, _frame: object) -> None:
        raise AssertionError("the other alarm fired")

    before = signal.signal(signal.SIGALRM, other)
    old = signal.setitimer(signal.ITIMER_REAL, 50)
    try:
        with WorkLimit(5).armed():
            pass
        assert signal.getsignal(signal.SIGALRM) is other
        assert 40 < signal.getitimer(signal.ITIMER_REAL)[0] <= 50
        # An alarm due before the limit is left alone: the stage boundaries keep it.
        signal.setitimer(signal.ITIMER_REAL, 2)
        with WorkLimit(5).armed():
            assert signal.getsignal(signal.SIGALRM) is other
    finally:
        signal.setitimer(signal.ITIMER_REAL, *old)
        signal.signal(signal.SIGALRM, before)


def test_a_limit_not_reached_changes_nothing() -> None:
    limit = WorkLimit(30)
    with limit.armed():
        _spin(0.01)
    limit.check()
    assert not limit.struck and 0 < limit.used_ms() < 30_000
