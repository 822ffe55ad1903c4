"""This process' small thread pool for image work that releases the GIL (resampling, encoding).

Pillow releases the GIL while it resamples, decodes and encodes, so a few threads use
the cores a single job would leave idle. One pool per process, made on first use and
again after a fork: a pool inherited through fork (Celery's prefork) has no live threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 4

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def thread_count() -> int:
    """How many threads the pool has: the usable cores, at most MAX_THREADS."""
    return min(len(os.sched_getaffinity(0)), MAX_THREADS)


def pool() -> ThreadPoolExecutor | None:
    """This process' pool, or None on a single core (then work runs in the caller)."""
    global _pool, _pool_pid
    threads = thread_count()
    if threads < 2:
        return None
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(threads, thread_name_prefix="imaging")
        _pool_pid = os.getpid()
    return _pool
