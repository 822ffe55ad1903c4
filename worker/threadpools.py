"""Thread pools that survive Celery's prefork: one per process, made again after a fork.

A pool inherited through fork has no live threads (only the forking thread is copied),
so each pool remembers the process that made it and is rebuilt in a new one.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


class PerProcessPool:
    """A ``ThreadPoolExecutor`` of ``threads`` threads for the calling process."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads = threads
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def get(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self._name)
            self._pid = os.getpid()
        return self._pool
