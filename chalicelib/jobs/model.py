"""The job model: statuses, allowed transitions and the status body (pure, no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"

STATUSES = (PENDING, PROCESSING, COMPLETED, FAILED)
TERMINAL = frozenset({COMPLETED, FAILED})

# Which statuses a job may move to from each status. ``processing`` may repeat
# because a task can be delivered again after a worker died mid-task; terminal
# statuses never change, so a completed job never goes back.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PROCESSING, FAILED}),
    PROCESSING: frozenset({PROCESSING, COMPLETED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    """True if a job in ``current`` may move to ``target``."""
    return target in ALLOWED_TRANSITIONS.get(current, frozenset())


def sources_of(target: str) -> list[str]:
    """Statuses from which ``target`` may be reached (for the atomic Redis check)."""
    return [s for s, targets in ALLOWED_TRANSITIONS.items() if target in targets]


@dataclass
class Job:
    """One job as stored in its Redis record."""

    job_id: str
    status: str
    created_at: float
    updated_at: float
    text: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    source_key: str = ""
    source_bytes: int = 0
    message: str = ""
    progress: int = 0
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    result_key: str | None = None
    callback_url: str | None = None
    # The Celery node (``worker@<host>``) that took the job last; not in the status answer.
    worker: str = ""
    # Who owns the job: another tenant's job answers exactly as an unknown one.
    tenant_id: str = ""
    # The price at submit (estimated ms of work) and the queue it was sent to.
    cost_ms: float = 0.0
    queue: str = ""
    # The Redis key of the Idempotency-Key that made the job, released with it.
    idempotency_key: str = ""
    # The preset the job's options came from, and the batch it belongs to (if any).
    preset: str = ""
    batch_id: str = ""
    # The result without URLs (a few KB); the durable copy is result.json in S3.
    result: dict[str, Any] | None = None

    def to_record(self) -> dict[str, str]:
        """Flatten into Redis hash fields (strings only; structured values as JSON)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "created_at": repr(self.created_at),
            "updated_at": repr(self.updated_at),
            "text": self.text,
            "options": json.dumps(self.options, separators=(",", ":")),
            "source_key": self.source_key,
            "source_bytes": str(self.source_bytes),
            "message": self.message,
            "progress": str(self.progress),
            "attempts": str(self.attempts),
            "error_code": self.error_code or "",
            "error_message": self.error_message or "",
            "result_key": self.result_key or "",
            "callback_url": self.callback_url or "",
            "worker": self.worker,
            "tenant_id": self.tenant_id,
            "cost_ms": repr(self.cost_ms),
            "queue": self.queue,
            "idempotency_key": self.idempotency_key,
            "preset": self.preset,
            "batch_id": self.batch_id,
            "result": json.dumps(self.result, separators=(",", ":")) if self.result else "",
        }

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Job:
        """Inverse of ``to_record``."""
        return cls(
            job_id=record["job_id"],
            status=record["status"],
            created_at=float(record["created_at"]),
            updated_at=float(record["updated_at"]),
            text=record.get("text", ""),
            options=json.loads(record.get("options") or "{}"),
            source_key=record.get("source_key", ""),
            source_bytes=int(record.get("source_bytes") or 0),
            message=record.get("message", ""),
            progress=int(record.get("progress") or 0),
            attempts=int(record.get("attempts") or 0),
            error_code=record.get("error_code") or None,
            error_message=record.get("error_message") or None,
            result_key=record.get("result_key") or None,
            callback_url=record.get("callback_url") or None,
            worker=record.get("worker", ""),
            tenant_id=record.get("tenant_id", ""),
            cost_ms=float(record.get("cost_ms") or 0),
            queue=record.get("queue", ""),
            idempotency_key=record.get("idempotency_key", ""),
            preset=record.get("preset", ""),
            batch_id=record.get("batch_id", ""),
            result=json.loads(record["result"]) if record.get("result") else None,
        )

    @property
    def error(self) -> dict[str, str] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}
