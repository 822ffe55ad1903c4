"""Webhook delivery: POST a finished job's status body (or an ended batch's answer),
signed, retried with backoff.

Deliveries run on a queue of their own (``Settings.webhooks_queue``) served by
their own workers, so a slow receiver never holds an image worker; and shared fairly
between tenants (``worker/webhooks/fairness.py``), so one tenant's dead receiver
never holds the threads another tenant's deliveries need.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from chalicelib.backends import Backends
from chalicelib.core.errors import InvalidCallback
from chalicelib.jobs import model as jobs
from chalicelib.jobs.batches import describe_batch
from chalicelib.jobs.contract import BATCH_WEBHOOK_TASK, WEBHOOK_TASK
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
    body = status_body(job, ctx.objects, ctx.settings.result_url_ttl)
    return _post_signed(
        ctx,
        job.tenant_id or ANONYMOUS,
        job.callback_url,
        body,
        {"X-Job-Id": job_id},
        delivery_id,
        resolver,
        attempt,
        gate,
    )


def deliver_batch_once(
    ctx: Backends,
    batch_id: str,
    delivery_id: str,
    resolver: Resolver = system_resolver,
    attempt: int = 0,
    gate: DeliveryGate | None = None,
) -> str:
    """One delivery attempt of a batch's webhook: the batch's answer with every job's
    outcome (``describe_batch``), signed as a job's; outcomes as ``deliver_once``'s."""
    batch = ctx.batches.get(batch_id)
    if batch is None or not batch.callback_url or batch.notified_at is None:
        return "nothing-to-send"
    body = describe_batch(ctx.batches, ctx.store, batch)
    return _post_signed(
        ctx,
        batch.tenant_id,
        batch.callback_url,
        body,
        {"X-Batch-Id": batch_id},
        delivery_id,
        resolver,
        attempt,
        gate,
    )


def _post_signed(
    ctx: Backends,
    tenant_id: str,
    callback_url: str,
    answer: dict[str, Any],
    id_header: dict[str, str],
    delivery_id: str,
    resolver: Resolver,
    attempt: int,
    gate: DeliveryGate | None,
) -> str:
    """Sign ``answer`` with the tenant's secrets and POST it to ``callback_url``."""
    # Logged as the id it is: job_id or batch_id.
    what = {("job_id" if "X-Job-Id" in id_header else "batch_id"): next(iter(id_header.values()))}
    tenant = ctx.tenants.get(tenant_id)
    secrets = tenant.webhook_secrets(ctx.settings) if tenant else ctx.settings.webhook_secrets
    if not secrets:
        # Only a local stack can run without a secret (a deployed worker refuses to
        # start); an unsigned webhook would teach receivers to skip the check.
        log.warning("webhook not sent: WEBHOOK_SECRET is empty", extra=what)
        return "refused-unsigned"
    try:
        target = resolve_callback(
            callback_url, CallbackPolicy.from_settings(ctx.settings), resolver
        )
    except InvalidCallback as exc:
        log.warning("webhook refused: %s", exc.message, extra=what)
        return "refused"
    body = json.dumps(answer, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "media-jobs-webhook/2",
        **id_header,
        **webhook_headers(secrets, body, delivery_id),
    }
    seconds = attempt_seconds(attempt, ctx.settings.webhook_timeout)
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
        log.info("webhook delivered", extra=what)
        return "delivered"
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        log.warning("webhook refused by receiver: %s", status, extra=what)
        return f"refused-{status}"
    return f"retry: HTTP {status}"


@app.task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Any, job_id: str, deferred: int = 0) -> str:
    """Send the job's final status to its callback URL; retried with backoff.

    ``deferred`` counts the times the delivery was put back under a fairness cap:
    those are not attempts, so the attempt is Celery's retries less them."""
    return _deliver_retrying(self, deliver_once, "job_id", job_id, deferred)


@app.task(name=BATCH_WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_batch_webhook(self: Any, batch_id: str, deferred: int = 0) -> str:
    """Send a batch's report (every job ended) to its callback URL; retried as a job's."""
    return _deliver_retrying(self, deliver_batch_once, "batch_id", batch_id, deferred)


def _deliver_retrying(
    task: Any, attempt_once: Callable[..., str], name: str, target: str, deferred: int
) -> str:
    """One attempt of ``attempt_once``; then Celery's retry with backoff, or a deferral
    under a fairness cap, until delivered, refused or given up."""
    ctx = get_context()
    attempt = task.request.retries - deferred
    # The task id stays the same across retries: receivers see one delivery id.
    outcome = attempt_once(
        ctx,
        target,
        str(task.request.id or target),
        attempt=attempt,
        gate=DeliveryGate(ctx.redis, prefix=ctx.settings.redis_key_prefix),
    )
    extra = {name: target}
    if outcome.startswith("deferred: ") and deferred < MAX_DEFERRALS:
        raise task.retry(countdown=DEFER_SECONDS, kwargs={name: target, "deferred": deferred + 1})
    if not outcome.startswith(("retry: ", "deferred: ")):
        return outcome
    reason = outcome.partition(": ")[2]
    if attempt >= settings.webhook_max_retries or deferred >= MAX_DEFERRALS:
        log.warning("webhook given up after %s tries: %s", attempt + 1, reason, extra=extra)
        return "given-up"
    delay = webhook_backoff(attempt)
    log.info("webhook failed (%s), retrying in %s s", reason, delay, extra=extra)
    raise task.retry(countdown=delay, kwargs={name: target, "deferred": deferred})
