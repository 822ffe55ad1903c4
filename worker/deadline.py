"""A job's one time budget: Celery's soft time limit, or the clock, whichever comes first.

The soft limit arrives as a signal that raises inside whatever code runs at
that moment, and a library may swallow the exception (a blocked S3 read did);
the deadline remembers that it struck, so the pipeline stops at its next stage
boundary regardless.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

# The signal billiard's pool sends a task at its soft time limit.
from billiard.pool import SIG_SOFT_TIMEOUT
from celery.exceptions import SoftTimeLimitExceeded

from chalicelib.core.errors import JobTimeout


class Deadline:
    """Expires ``seconds`` after it starts, or when the soft-limit signal arrives."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds
        self.signalled = False

    @classmethod
    def for_task(cls, seconds: float) -> Deadline:
        """A deadline that also listens for the soft-limit signal (in a pool process)."""
        deadline = cls(seconds)
        if SIG_SOFT_TIMEOUT is not None:
            signal.signal(SIG_SOFT_TIMEOUT, deadline._on_signal)
        return deadline

    def _on_signal(self, _signum: int, _frame: Any) -> None:
        self.signalled = True
        raise SoftTimeLimitExceeded()

    def remaining(self) -> float:
        """Seconds left (negative once past)."""
        return -1.0 if self.signalled else self._at - self._clock()

    def expired(self) -> bool:
        return self.signalled or self._clock() > self._at

    def check(self) -> None:
        """Raise ``JobTimeout`` once the deadline has passed."""
        if self.expired():
            raise JobTimeout()
