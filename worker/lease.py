"""A worker's lease on the job it processes, renewed on a thread while the job runs.

The lease (``JobStore.take_lease``) is how the reconciler tells a live job from one
whose worker died or lost Redis: a lapsed lease on a ``processing`` job gets the job
queued again, and a second delivery of a job whose lease is held is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from types import TracebackType

from chalicelib.errors import ServiceError
from chalicelib.jobstore import JobStore

log = logging.getLogger(__name__)


class JobLease:
    """Taken with ``take()``; renewed every third of ``seconds`` until the block ends."""

    def __init__(self, store: JobStore, job_id: str, owner: str, seconds: float) -> None:
        self._store = store
        self.job_id = job_id
        self.owner = owner
        self.seconds = seconds
        self.taken = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> bool:
        """Take the lease (or renew it, already ours); False while another worker holds it."""
        if not self._store.take_lease(self.job_id, self.owner, self.seconds):
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
