"""Per-process clients of a worker (boto3 and Redis clients are not fork-safe)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from chalicelib.jobstore import RedisJobStore, make_job_store
from chalicelib.settings import Settings
from chalicelib.storage import S3ObjectStore


@dataclass(frozen=True)
class WorkerContext:
    """What a task needs: settings, the job store and the object store."""

    settings: Settings
    store: RedisJobStore
    objects: S3ObjectStore


_context: WorkerContext | None = None
_context_pid = 0


def get_context() -> WorkerContext:
    """This process's context, built on first use after a fork."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        settings = Settings.from_env()
        _context = WorkerContext(
            settings=settings,
            store=make_job_store(settings),
            objects=S3ObjectStore.from_settings(settings),
        )
        _context_pid = os.getpid()
    return _context
