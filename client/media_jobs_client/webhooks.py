"""Verify a webhook from media-jobs in a receiver: its signature and its freshness.

Every webhook carries ``Webhook-Id``, ``Webhook-Timestamp`` and
``Webhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``; each ``v1`` is the hex
HMAC-SHA256, keyed with the tenant's webhook secret, of ``"<timestamp>.<raw body>"``
(one per valid secret while a secret is rotated). The service signs with
``chalicelib.webhooks.signature``; a test checks that this verifies what it signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(ValueError):
    """A received webhook is not authentic or not fresh; refuse it."""


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Any:
    """Check a received webhook and return its decoded JSON body.

    ``headers`` is the request's headers (any mapping; names are matched without
    case), ``body`` the raw bytes as received. Raises ``WebhookVerificationError``
    when the signature does not match ``secret`` or the timestamp is more than
    ``tolerance`` seconds away from ``now``.
    """
    if not secret:
        raise WebhookVerificationError("no secret to verify with")
    parts = [part.partition("=") for part in _header(headers, SIGNATURE_HEADER).split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        raise WebhookVerificationError("the signature header is malformed")
    timestamp = int(stamps[0])
    if _header(headers, TIMESTAMP_HEADER).strip() != str(timestamp):
        raise WebhookVerificationError("the timestamp headers disagree")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("the timestamp is outside the tolerance window")
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Compare with every signature in constant time; any one match is enough.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError("no signature matches the secret")
    return json.loads(body)
