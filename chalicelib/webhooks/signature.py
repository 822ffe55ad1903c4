"""Webhook signatures: sign a delivery with a timestamp, and verify one in a receiver.

Every webhook carries three headers::

    Webhook-Id: 1f0c…              the delivery (the same on every retry of it)
    Webhook-Timestamp: 1767225600  Unix seconds when this attempt was signed
    Webhook-Signature: t=1767225600,v1=<hex>[,v1=<hex>]

Each ``v1`` is the hex HMAC-SHA256, keyed with a webhook secret, of
``"<timestamp>.<raw body>"``. While a secret is being rotated, the header
carries one signature per valid secret, so a receiver holding either verifies.
A receiver refuses a timestamp outside its tolerance (five minutes by default),
so a captured webhook cannot be replayed later; within the window, the job id
and status in the signed body tell repeats apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

ID_HEADER = "Webhook-Id"
TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(ValueError):
    """A received webhook is not authentic or not fresh; refuse it."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], body: bytes, timestamp: int) -> str:
    """The ``Webhook-Signature`` value: the timestamp and one signature per secret."""
    if not secrets or not all(secrets):
        raise ValueError("a webhook needs at least one non-empty secret")
    signatures = ",".join(f"{SCHEME}={_digest(s, timestamp, body)}" for s in secrets)
    return f"t={timestamp},{signatures}"


def webhook_headers(
    secrets: Sequence[str], body: bytes, delivery_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of one signed delivery attempt."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, body, timestamp),
    }


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
    signatures = [value.strip() for key, _, value in parts if key.strip() == SCHEME]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        raise WebhookVerificationError("the signature header is malformed")
    timestamp = int(stamps[0])
    if _header(headers, TIMESTAMP_HEADER).strip() != str(timestamp):
        raise WebhookVerificationError("the timestamp headers disagree")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("the timestamp is outside the tolerance window")
    expected = _digest(secret, timestamp, body)
    # Compare with every signature in constant time; any one match is enough.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError("no signature matches the secret")
    return json.loads(body)
