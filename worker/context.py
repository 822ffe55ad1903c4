"""Per-process backends of a worker (boto3 and Redis clients are not fork-safe).

Built from the worker's one ``Settings`` (``worker.celery_app.settings``) on first
use after a fork, so every task of a pool process shares them.
"""

from __future__ import annotations

import os

from chalicelib.backends import Backends

_backends: Backends | None = None
_backends_pid = 0


def get_context() -> Backends:
    """This process's backends."""
    global _backends, _backends_pid
    if _backends is None or _backends_pid != os.getpid():
        from worker.celery_app import settings

        _backends = Backends.from_settings(settings)
        _backends_pid = os.getpid()
    return _backends
