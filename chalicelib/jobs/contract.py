"""Names and payloads shared by the API (producer) and the workers (consumer)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from chalicelib.core.errors import InvalidJobId

PROCESS_TASK = "media.process_job"
WEBHOOK_TASK = "media.deliver_webhook"
BATCH_WEBHOOK_TASK = "media.deliver_batch_webhook"
DEAD_LETTER_KEY = "media:dead-letters"

_JOB_ID = re.compile(r"[0-9a-f]{32}")
#: The job id rule as an anchored pattern (OpenAPI, JSON Schema).
JOB_ID_PATTERN = f"^{_JOB_ID.pattern}$"


def new_job_id() -> str:
    """A fresh, unguessable job id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def check_job_id(job_id: Any) -> str:
    """Return ``job_id`` if well formed, else raise ``InvalidJobId``."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidJobId()
    return job_id


def task_payload(job_id: str) -> dict[str, Any]:
    """The task's keyword arguments: ids only; the job record holds the rest."""
    return {"job_id": job_id}
