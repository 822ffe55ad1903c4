"""A Celery consumer that dead-letters messages it cannot run, instead of only logging them.

Celery acknowledges undecodable messages and rejects unknown or invalid ones,
so they are never redelivered endlessly; this keeps a copy where an operator
can read it (``python -m scripts.ops dead-letters``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

from worker.context import get_context

log = logging.getLogger(__name__)


def _headers(message: Any) -> dict[str, Any]:
    headers = getattr(message, "headers", None)
    return dict(headers) if isinstance(headers, dict) else {}


def keep_dead_letter(reason: str, **entry: Any) -> None:
    """Keep an entry in the dead-letter list; never raise (consuming must go on)."""
    try:
        get_context().dead_letters.push(reason, **entry)
    except Exception:  # a dead-letter failure must not stop the consumer
        log.exception("could not dead-letter a message: %s", reason)


def dead_letter_message(message: Any, reason: str) -> None:
    """Keep a kombu ``message`` Celery cannot run."""
    headers = _headers(message)
    keep_dead_letter(
        reason,
        task=headers.get("task"),
        task_id=headers.get("id"),
        body=getattr(message, "body", b""),
        content_type=getattr(message, "content_type", None),
    )


class DeadLetteringConsumer(Consumer):
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        dead_letter_message(message, f"undecodable message: {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        dead_letter_message(message, "not a task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        dead_letter_message(message, f"unknown task: {exc}")
        # Celery's own handler also marks a result as failed, which needs a
        # result backend; without one, rejecting is all that is left to do.
        message.reject_log_error(log, self.connection_errors)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        dead_letter_message(message, f"invalid task message: {exc}")
        super().on_invalid_task(body, message, exc)
