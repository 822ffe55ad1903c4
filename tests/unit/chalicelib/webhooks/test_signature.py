"""Webhook signatures: timestamped, replay-limited, verifiable during a secret rotation."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from chalicelib.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerificationError,
    verify_webhook,
    webhook_headers,
)
from media_jobs_client import verify_webhook as client_verify_webhook

BODY = json.dumps({"job_id": "a" * 32, "status": "completed"}).encode()
NOW = 1_767_225_600


def signed(*secrets: str, body: bytes = BODY, at: int = NOW) -> dict[str, str]:
    return webhook_headers(list(secrets), body, "delivery-1", timestamp=at)


def test_a_fresh_webhook_verifies_and_gives_its_body() -> None:
    headers = signed("s3cret")
    assert verify_webhook("s3cret", headers, BODY, now=NOW + 10) == json.loads(BODY)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    headers = signed("s3cret")
    expected = hmac.new(b"s3cret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"t={NOW},v1={expected}"
    assert headers[TIMESTAMP_HEADER] == str(NOW)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("wrong", BODY, NOW),  # another tenant's secret
        ("s3cret", BODY + b" ", NOW),  # a changed body
        ("s3cret", BODY, NOW + 301),  # replayed after the window
        ("s3cret", BODY, NOW - 301),  # from the future
        ("", BODY, NOW),
    ],
)
def test_forgeries_and_replays_fail(secret: str, body: bytes, now: int) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, signed("s3cret"), body, now=now)


def test_a_replay_within_the_window_passes_only_the_signature_check() -> None:
    # Within the tolerance a repeat verifies; receivers tell repeats apart by the
    # Webhook-Id header (one per delivery, kept across retries) and the signed body.
    headers = signed("s3cret")
    assert verify_webhook("s3cret", headers, BODY, now=NOW + 299)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("s3cret", headers, BODY, now=NOW + 301)


def test_a_changed_timestamp_header_fails() -> None:
    headers = signed("s3cret")
    headers[TIMESTAMP_HEADER] = str(NOW + 100)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("s3cret", headers, BODY, now=NOW + 100)
    # Re-stamping the signature header without the secret does not help either.
    headers[SIGNATURE_HEADER] = headers[SIGNATURE_HEADER].replace(f"t={NOW}", f"t={NOW + 100}")
    with pytest.raises(WebhookVerificationError):
        verify_webhook("s3cret", headers, BODY, now=NOW + 100)


def test_during_a_rotation_either_secret_verifies() -> None:
    headers = signed("new-secret", "old-secret")
    assert headers[SIGNATURE_HEADER].count("v1=") == 2
    assert verify_webhook("new-secret", headers, BODY, now=NOW)
    assert verify_webhook("old-secret", headers, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("other", headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", f"t={NOW}", "t=soon,v1=abc", f"t={NOW},t={NOW},v1=abc", "garbage"],
)
def test_malformed_signature_headers_fail(header: str) -> None:
    headers = {**signed("s3cret"), SIGNATURE_HEADER: header}
    with pytest.raises(WebhookVerificationError):
        verify_webhook("s3cret", headers, BODY, now=NOW)


def test_header_names_match_without_case_and_missing_ones_fail() -> None:
    lowered = {k.lower(): v for k, v in signed("s3cret").items()}
    assert verify_webhook("s3cret", lowered, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook("s3cret", {}, BODY, now=NOW)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        webhook_headers([], BODY, "d")
    with pytest.raises(ValueError):
        webhook_headers([""], BODY, "d")


@pytest.mark.parametrize(
    ("secret", "headers", "at"),
    [
        ("s3cret", signed("s3cret"), NOW),
        ("old", signed("new", "old"), NOW),
        ("wrong", signed("s3cret"), NOW),
        ("s3cret", signed("s3cret"), NOW + 301),
        ("s3cret", {**signed("s3cret"), "Webhook-Timestamp": "1"}, NOW),
        ("s3cret", {"Webhook-Timestamp": str(NOW)}, NOW),
        ("", signed("s3cret"), NOW),
    ],
)
def test_the_client_package_verifies_what_the_service_signs_and_nothing_else(
    secret: str, headers: dict[str, str], at: int
) -> None:
    """The client (``client/``) carries its own copy, for receivers without the service."""

    def outcome(verify: Any) -> Any:
        try:
            return verify(secret, headers, BODY, now=at)
        except ValueError as exc:
            return type(exc).__name__, str(exc)

    assert outcome(client_verify_webhook) == outcome(verify_webhook)
