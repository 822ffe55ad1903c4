"""A job's price enforced while it runs: a second deadline, armed as a timer signal.

The API prices every job from its header (``chalicelib/media/cost.py``); an input
whose real cost the header hides (a progressive JPEG of many scans, a caption of
alternating-direction text) would otherwise hold a worker until the soft time
limit. ``WorkLimit`` gives the run ``work_limit_seconds(price)`` of CPU time:
the process's, all its threads (core-seconds, the price's own unit, and a measure a
busy machine does not inflate; the wall clock failed honest heavy jobs while other
work shared the cores). It is checked at every stage boundary, and while armed a
one-shot ``SIGPROF`` (``ITIMER_PROF``) raises ``WorkLimitExceeded`` inside whatever
runs at that moment,
including a single long Pillow call that feeds its decoder in blocks (a decode,
a caption's layout calls). Like the soft limit's signal, a library may swallow
the exception: the limit remembers that it struck, so the next stage boundary
stops the job regardless.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core.errors import WorkLimitExceeded


class WorkLimit:
    """Expires after ``seconds`` of CPU time; ``armed()`` also stops a call running then."""

    def __init__(
        self, seconds: float, price_ms: float = 0.0, clock: Callable[[], float] = time.process_time
    ) -> None:
        self.seconds = seconds
        self.price_ms = price_ms
        self._clock = clock
        self._started = clock()
        self.struck = False

    def used_ms(self) -> float:
        """CPU milliseconds the run has used."""
        return (self._clock() - self._started) * 1000

    def remaining(self) -> float:
        return -1.0 if self.struck else self.seconds - (self._clock() - self._started)

    def expired(self) -> bool:
        return self.remaining() < 0

    def error(self) -> WorkLimitExceeded:
        return WorkLimitExceeded(
            f"Processing was stopped after {self.seconds:g} s of work: the job was priced at "
            f"{self.price_ms / 1000:.2f} s of work, and an input may run at most its price "
            "times a factor (docs/HOSTILE_INPUT.md, 'Work limits')."
        )

    def check(self) -> None:
        """Raise ``WorkLimitExceeded`` once the limit has passed."""
        if self.expired():
            self.struck = True
            raise self.error()

    def _on_alarm(self, _signum: int, _frame: Any) -> None:
        self.struck = True
        raise self.error()

    @contextmanager
    def armed(self) -> Iterator[None]:
        """While the block runs, ``SIGPROF`` at the limit (CPU time) raises
        ``WorkLimitExceeded`` wherever the main thread is. Off the main thread (signals
        cannot be handled there) only the stage-boundary checks apply; so too while
        another ``ITIMER_PROF`` of the process (a profiler's) is due first."""
        seconds = max(self.remaining(), 0.001)
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        pending, _ = signal.getitimer(signal.ITIMER_PROF)
        if 0 < pending <= seconds:
            yield
            return
        previous = signal.signal(signal.SIGPROF, self._on_alarm)
        _, interval = signal.setitimer(signal.ITIMER_PROF, seconds)
        started = time.process_time()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)
            if pending > 0:
                # The other timer, put back with what was left of it.
                left = max(pending - (time.process_time() - started), 0.001)
                signal.setitimer(signal.ITIMER_PROF, left, interval)
