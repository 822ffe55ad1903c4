"""A pool process's C heap between jobs: what it keeps for the next job, what it gives back.

glibc's defaults suit neither end. Its mmap threshold adapts (raised by a large
free), but in a Celery pool process a job's large buffers still came from ``mmap``
and went back at ``free``: the next job faulted their pages in again (about 6,200
faults, 15 ms of CPU a 12 MP job in the worker image). Trimming the heap after every
job did the same to the rest (about 50 ms in the development venv). So a pool
process fixes the thresholds (``keep_freed_heap``) and gives back what it holds
over an allowance after a job (``HeapKeeper``); a model's build gives back all.
"""

from __future__ import annotations

import ctypes
import functools
import os

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# The largest buffer taken from the heap rather than mapped on its own: glibc's own
# ceiling for its adaptive threshold on 64-bit (Pillow's image blocks are 16 MB).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Below this much over its size at rest, a process has nothing worth giving back.
ROOM_SLACK_BYTES = 8 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``malloc_trim`` and ``mallopt`` are its own)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; elsewhere a no-op).

    Building a model frees many mid-sized working buffers. glibc keeps freed heap
    pages in the process, so they would stay in every worker pool process's RSS;
    and once a large buffer (such as LZMA's 8 MB dictionary) is freed, glibc raises
    its mmap threshold, so later buffers land on that heap too.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_freed_heap(keep_bytes: int) -> bool:
    """Buffers up to ``MMAP_THRESHOLD_BYTES`` come from the heap, and up to ``keep_bytes``
    of freed heap stays in the process for reuse (glibc; False where not applied)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and libc.mallopt(M_TRIM_THRESHOLD, min(keep_bytes, 2**31 - 1))
    )


def resident_bytes() -> int:
    """This process's resident memory (Linux ``/proc/self/statm``; 0 where it is not)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class HeapKeeper:
    """Lets a pool process keep up to ``keep_bytes`` of freed heap between jobs, and gives
    the free pages back when it holds more: a usual job reuses the last one's pages,
    and the largest job's working set does not stay for good."""

    def __init__(self) -> None:
        self.keep_bytes = 0
        self.baseline = 0  # resident bytes at rest; 0 until ``started``

    def started(self, keep_bytes: int) -> None:
        """The process is warmed up: what it holds now is its size at rest."""
        self.keep_bytes = keep_bytes
        keep_freed_heap(keep_bytes)
        release_free_memory()
        self.baseline = resident_bytes()

    def after_job(self) -> bool:
        """Give the free pages back if the process grew past its allowance; True if so."""
        if not self.baseline or resident_bytes() - self.baseline <= self.keep_bytes:
            return False
        release_free_memory()
        return True

    def make_room(self, needed_bytes: int) -> bool:
        """Before a decode of ``needed_bytes``: give back what the process kept if the
        decode may need buffers larger than the heap serves (mapped beside the kept heap,
        not in it), so a large job's peak is its own, what the decode budget is sized
        for, and not its own plus the last job's freed heap; True if it gave back.
        A usual job (a 12 MP JPEG's decode: about 23 MiB) keeps the pages."""
        if not self.baseline or needed_bytes <= min(self.keep_bytes, MMAP_THRESHOLD_BYTES):
            return False
        if resident_bytes() - self.baseline <= ROOM_SLACK_BYTES:
            return False
        release_free_memory()
        return True


# This process's keeper: a worker pool process starts it (``worker.tasks``); elsewhere
# (the tests, the benchmarks) it keeps its hands off the heap.
keeper = HeapKeeper()
