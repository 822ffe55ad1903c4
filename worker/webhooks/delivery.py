"""Webhook delivery: POST a finished job's status body, signed, retried with backoff.

Deliveries run on a queue of their own (``Settings.webhooks_queue``) served by
their own workers, so a slow receiver never holds an image worker; and shared fairly
between tenants (``worker/webhooks/fairness.py``), so one tenant's dead receiver
never holds the threads another tenant's deliveries need.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.backends import Backends
from chalicelib.core.errors import InvalidCallback
from chalicelib.jobs import model as jobs
from chalicelib.jobs.contract import WEBHOOK_TASK
from chalicelib.jobs.status import status_body
from chalicelib.tenancy.tenants import ANONYMOUS
from chalicelib.webhooks.callbacks import (
    CallbackPolicy,
    Resolver,
    resolve_callback,
    system_resolver,
)
from chalicelib.webhooks.signature import webhook_headers
from worker.celery_app import app, settings
from worker.context import get_context
from worker.webhooks.fairness import DEFER_SECONDS, DeliveryGate, attempt_seconds
from worker.webhooks.sender import DeliveryFailed, post_webhook

log = logging.getLogger(__name__)

# A delivery put back this many times (about an hour of full caps) is given up.
MAX_DEFERRALS = 3600

# Client errors other than these mean the receiver refuses the call for good.
_RETRYABLE_4XX = {408, 409, 425, 429}


def webhook_backoff(retries: int) -> int:
    """5 s, 10 s, 20 s … capped at 10 minutes."""
    return int(min(600, 5 * 2**retries))


def queue_webhook(job_id: str) -> None:
    """Queue the webhook of a job that just reached its final status."""
    app.send_task(WEBHOOK_TASK, kwargs={"job_id": job_id}, queue=settings.webhooks_queue)


def deliver_once(
    ctx: Backends,
    job_id: str,
    delivery_id: str,
    resolver: Resolver = system_resolver,
    attempt: int = 0,
    gate: DeliveryGate | None = None,
) -> str:
    """One delivery attempt of ``job_id``'s webhook; returns what happened.

    ``delivered``, ``refused…`` (for good), ``retry: <reason>`` (worth another
    attempt) or ``deferred: <cap>`` (the tenant or the host has its share of attempts
    in flight: ask again in a second, no attempt made). The URL is resolved and
    checked once, here, and the connection goes to the address that passed the check.
    """
    job = ctx.store.get(job_id)
    if job is None or not job.callback_url or job.status not in jobs.TERMINAL:
        return "nothing-to-send"
    tenant = ctx.tenants.get(job.tenant_id or ANONYMOUS)
    secrets = tenant.webhook_secrets(ctx.settings) if tenant else ctx.settings.webhook_secrets
    if not secrets:
        # Only a local stack can run without a secret (a deployed worker refuses to
        # start); an unsigned webhook would teach receivers to skip the check.
        log.warning("webhook not sent: WEBHOOK_SECRET is empty", extra={"job_id": job_id})
        return "refused-unsigned"
    try:
        target = resolve_callback(
            job.callback_url, CallbackPolicy.from_settings(ctx.settings), resolver
        )
    except InvalidCallback as exc:
        log.warning("webhook refused: %s", exc.message, extra={"job_id": job_id})
        return "refused"
    body = json.dumps(
        status_body(job, ctx.objects, ctx.settings.result_url_ttl), separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "media-jobs-webhook/2",
        "X-Job-Id": job_id,
        **webhook_headers(secrets, body, delivery_id),
    }
    seconds = attempt_seconds(attempt, ctx.settings.webhook_timeout)
    tenant_id = job.tenant_id or ANONYMOUS
    token = f"{delivery_id}:{attempt}"
    # A receiver is a host and a port: two services on one machine are two receivers.
    host = f"{target.host}:{target.port}"
    if gate is not None:
        refused = gate.enter(tenant_id, host, token, seconds)
        if refused == "circuit-open":
            return "retry: the receiver's host keeps timing out (circuit open)"
        if refused is not None:
            return f"deferred: {refused}"
    try:
        status = post_webhook(target, body, headers, seconds)
    except DeliveryFailed as exc:
        if gate is not None and "no answer within" in str(exc):
            gate.timed_out(host)
        return f"retry: {exc}"
    finally:
        if gate is not None:
            gate.leave(tenant_id, host, token)
    if gate is not None:
        gate.answered(host)
    if 200 <= status < 300:
        log.info("webhook delivered", extra={"job_id": job_id})
        return "delivered"
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        log.warning("webhook refused by receiver: %s", status, extra={"job_id": job_id})
        return f"refused-{status}"
    return f"retry: HTTP {status}"


@app.task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Any, job_id: str, deferred: int = 0) -> str:
    """Send the job's final status to its callback URL; retried with backoff.

    ``deferred`` counts the times the delivery was put back under a fairness cap:
    those are not attempts, so the attempt is Celery's retries less them."""
    ctx = get_context()
    attempt = self.request.retries - deferred
    # The task id stays the same across retries: receivers see one delivery id.
    outcome = deliver_once(
        ctx,
        job_id,
        str(self.request.id or job_id),
        attempt=attempt,
        gate=DeliveryGate(ctx.redis, prefix=ctx.settings.redis_key_prefix),
    )
    if outcome.startswith("deferred: ") and deferred < MAX_DEFERRALS:
        raise self.retry(
            countdown=DEFER_SECONDS, kwargs={"job_id": job_id, "deferred": deferred + 1}
        )
    if not outcome.startswith(("retry: ", "deferred: ")):
        return outcome
    reason = outcome.partition(": ")[2]
    if attempt >= settings.webhook_max_retries or deferred >= MAX_DEFERRALS:
        log.warning(
            "webhook given up after %s tries: %s",
            attempt + 1,
            reason,
            extra={"job_id": job_id},
        )
        return "given-up"
    delay = webhook_backoff(attempt)
    log.info("webhook failed (%s), retrying in %s s", reason, delay, extra={"job_id": job_id})
    raise self.retry(countdown=delay, kwargs={"job_id": job_id, "deferred": deferred})
