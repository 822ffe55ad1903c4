"""This process' small thread pool for image work that releases the GIL (resampling, encoding).

Pillow releases the GIL while it resamples, decodes and encodes, so a few threads use
the cores a single job would leave idle.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from worker.threadpools import PerProcessPool

MAX_THREADS = 4

_pool = PerProcessPool(min(len(os.sched_getaffinity(0)), MAX_THREADS), "imaging")


def thread_count() -> int:
    """How many threads the pool has: the usable cores, at most MAX_THREADS."""
    return _pool.threads


def pool() -> ThreadPoolExecutor | None:
    """This process' pool, or None on a single core (then work runs in the caller)."""
    return _pool.get() if _pool.threads >= 2 else None
