"""Give the C heap's free pages back to the system after building a model."""

from __future__ import annotations

import ctypes


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; elsewhere a no-op).

    Building a model frees many mid-sized working buffers. glibc keeps freed heap
    pages in the process, so they would stay in every worker pool process's RSS;
    and once a large buffer (such as LZMA's 8 MB dictionary) is freed, glibc raises
    its mmap threshold, so later buffers land on that heap too.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
