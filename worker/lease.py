"""A worker's lease on the job it processes, renewed on a thread while the job runs.

The lease (``JobStore.take_lease``) is how the reconciler tells a live job from one
whose worker died or lost Redis: a lapsed lease on a ``processing`` job gets the job
queued again. A second delivery of a job whose lease is held waits for it to lapse
(the holder died) or drops the delivery (the holder is alive and renews it). An
owner names its host and process, so a holder that died on the same host (a pool
process killed, its task redelivered at once) is replaced without waiting.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType

from chalicelib.core.errors import ServiceError
from chalicelib.jobs.store import JobStore

log = logging.getLogger(__name__)

# How often a delivery waiting for another holder's lease looks again (seconds).
POLL_SECONDS = 0.5


def new_owner() -> str:
    """This process's name for a lease: ``<host>:<pid>:<random>``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def died_here(owner: str) -> bool:
    """True if ``owner`` was a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobLease:
    """Taken with ``take()``; renewed every third of ``seconds`` until the block ends."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self.job_id = job_id
        self.owner = owner
        self.seconds = seconds
        self.taken = False
        self.waited = False  # for another holder's lease
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, wait: float = 0.0) -> bool:
        """Take the lease (or renew it, already ours). Held by another owner: take it at
        once if that owner died on this host, else look again for up to ``wait``
        seconds (a dead holder's lease lapses within ``seconds``); False if still held."""
        for poll in range(math.ceil(wait / POLL_SECONDS) + 1):
            if poll:
                self.waited = True
                self._sleep(POLL_SECONDS)
            if self._store.take_lease(self.job_id, self.owner, self.seconds):
                break
            holder = self._store.lease_holder(self.job_id) or ""
            dead = bool(holder) and died_here(holder)
            if dead and self._store.take_lease(self.job_id, self.owner, self.seconds, holder):
                log.info("took over the lease of a dead process", extra=self._extra)
                break
        else:
            return False
        self.taken = True
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._renew, name=f"lease-{self.job_id[:8]}", daemon=True
            )
            self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not self._store.take_lease(self.job_id, self.owner, self.seconds):
                    # It lapsed while Redis was away and another worker took the job
                    # again: both runs write the same keys, the first to finish wins.
                    log.warning("lost the job's lease to another worker", extra=self._extra)
            except ServiceError:
                pass  # Redis is away: renewed at the next beat, or lapses as it should

    @property
    def _extra(self) -> dict[str, str]:
        return {"job_id": self.job_id}

    def __enter__(self) -> JobLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.taken:
            # A lease not given back lapses by itself.
            with contextlib.suppress(ServiceError):
                self._store.drop_lease(self.job_id, self.owner)
