"""Webhook delivery: POST a finished job's status body, signed, retried with backoff."""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from chalicelib import jobs
from chalicelib.callbacks import check_callback_url, signature
from chalicelib.contract import WEBHOOK_TASK
from chalicelib.errors import ServiceError
from chalicelib.status import status_body
from worker.celery_app import app, settings
from worker.context import get_context

log = logging.getLogger(__name__)

# Client errors other than these mean the receiver refuses the call for good.
_RETRYABLE_4XX = {408, 409, 425, 429}


def webhook_backoff(retries: int) -> int:
    """5 s, 10 s, 20 s … capped at 10 minutes."""
    return int(min(600, 5 * 2**retries))


@app.task(name=WEBHOOK_TASK, bind=True, max_retries=settings.webhook_max_retries)
def deliver_webhook(self: Any, job_id: str) -> str:
    """Send the job's final status to its callback URL; returns what happened."""
    ctx = get_context()
    job = ctx.store.get(job_id)
    if job is None or not job.callback_url or job.status not in jobs.TERMINAL:
        return "nothing-to-send"
    try:
        # Checked again at delivery: the name may resolve elsewhere than at submit.
        check_callback_url(job.callback_url, ctx.settings.allow_private_callbacks)
    except ServiceError as exc:
        log.warning("webhook refused: %s", exc.message, extra={"job_id": job_id})
        return "refused"
    body = json.dumps(
        status_body(job, ctx.objects, ctx.settings.result_url_ttl), separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "media-jobs-webhook/1",
        "X-Job-Id": job_id,
        "X-Signature": signature(body, ctx.settings.webhook_secret),
    }
    try:
        response = requests.post(
            job.callback_url, data=body, headers=headers, timeout=(3, 10), allow_redirects=False
        )
    except requests.RequestException as exc:
        return _retry(self, job_id, f"{type(exc).__name__}")
    if 200 <= response.status_code < 300:
        log.info("webhook delivered", extra={"job_id": job_id})
        return "delivered"
    if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
        log.warning(
            "webhook refused by receiver: %s", response.status_code, extra={"job_id": job_id}
        )
        return f"refused-{response.status_code}"
    return _retry(self, job_id, f"HTTP {response.status_code}")


def _retry(task: Any, job_id: str, reason: str) -> str:
    if task.request.retries >= task.max_retries:
        log.warning(
            "webhook given up after %s tries: %s",
            task.request.retries + 1,
            reason,
            extra={"job_id": job_id},
        )
        return "given-up"
    delay = webhook_backoff(task.request.retries)
    log.info("webhook failed (%s), retrying in %s s", reason, delay, extra={"job_id": job_id})
    raise task.retry(countdown=delay)
