"""Webhook callbacks: URL checks against server-side request forgery, and body signing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from chalicelib.errors import InvalidCallback

MAX_URL_LENGTH = 2048


def check_callback_url(url: str, allow_private: bool) -> str:
    """Return ``url`` if a webhook may be sent there, else raise ``InvalidCallback``.

    Only http(s) URLs without credentials; the host must resolve, and unless
    ``allow_private`` none of its addresses may be loopback, private,
    link-local (the cloud metadata service), multicast or reserved.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidCallback("The callback URL is too long.", field="callback_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallback(
            "The callback URL must be an http or https URL.", field="callback_url"
        )
    if parts.username or parts.password:
        raise InvalidCallback("The callback URL must not carry credentials.", field="callback_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidCallback(
            "The callback URL has an invalid port.", field="callback_url"
        ) from None
    for address in resolve(parts.hostname, port):
        if not allow_private and not address.is_global:
            raise InvalidCallback(
                f"The callback host resolves to a non-public address ({address}).",
                field="callback_url",
            )
    return url


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to; ``InvalidCallback`` when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidCallback(
            f"The callback host {host!r} does not resolve.", field="callback_url"
        ) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def signature(body: bytes, secret: str) -> str:
    """The ``X-Signature`` header value: ``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str) -> bool:
    """Constant-time check of a received ``X-Signature`` (for receivers and tests)."""
    return hmac.compare_digest(signature(body, secret), header)
