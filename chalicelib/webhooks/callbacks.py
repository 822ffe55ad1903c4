"""Webhook callback URLs: one parse, one resolution and one address rule, against SSRF.

A callback URL is checked at submit and again at delivery, and delivery
connects to exactly the address that was checked (``CallbackTarget.address``),
so neither a parser differential (``http://127.0.0.1\\x.evil/``) nor a DNS
answer that changes between check and connect (rebinding) can reach an
internal address. Error messages name the rule broken, never an address, so
the API cannot be used to resolve internal names.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.core.errors import InvalidCallback
from chalicelib.core.settings import Settings

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` -> the addresses ``host`` resolves to; tests pass a fake.
Resolver = Callable[[str, int], Sequence[IPAddress]]

# IPv6 ranges that carry an IPv4 address in their last 32 bits: a NAT64 gateway
# (RFC 6052) or an IPv4-compatible address would forward to it.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

_NOT_PUBLIC = "The callback host must resolve to public internet addresses only."
# A DNS name in its plain ASCII form (punycode for others), or an IP literal.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")


@dataclass(frozen=True)
class CallbackPolicy:
    """Where webhooks may go: public addresses on the allowed ports, unless relaxed."""

    allow_private: bool = False
    # None allows every port (local development); otherwise the allowed ones.
    ports: Collection[int] | None = frozenset({80, 443})

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        """The policy ``ALLOW_PRIVATE_CALLBACKS`` and ``WEBHOOK_PORTS`` state."""
        return cls(allow_private=settings.allow_private_callbacks, ports=settings.callback_ports)


@dataclass(frozen=True)
class CallbackTarget:
    """A checked callback: the name to send as Host and SNI, and the address to dial."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress

    @property
    def host_header(self) -> str:
        bracketed = f"[{self.host}]" if ":" in self.host else self.host
        return bracketed if self.port == DEFAULT_PORTS[self.scheme] else f"{bracketed}:{self.port}"


def _refuse(message: str) -> InvalidCallback:
    return InvalidCallback(message, field="callback_url")


def is_public_address(address: IPAddress) -> bool:
    """True only for a unicast address on the public internet.

    Beyond ``is_global``: multicast, site-local, and the IPv6 forms that embed an
    IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) are judged by the IPv4
    address they lead to.
    """
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    if address.is_site_local or address in _NAT64_LOCAL:
        return False
    embedded: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(is_public_address(v4) for v4 in embedded)


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to through the system resolver (empty if none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return addresses


def parse_callback_url(url: str, policy: CallbackPolicy) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a well-formed callback URL, or ``InvalidCallback``.

    The URL must read the same to the standard library's parser and to urllib3's
    (the HTTP client's): any URL they disagree on is refused, and so is anything a
    parser might repair differently (backslashes, whitespace, control characters,
    credentials, a host that is not plain ASCII).
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise _refuse(f"The callback URL must be a string of at most {MAX_URL_LENGTH} characters.")
    if not url.isascii() or not url.isprintable() or any(c in url for c in " \\"):
        raise _refuse(
            "The callback URL must be plain ASCII without spaces, backslashes or "
            "control characters (percent-encode the path and query)."
        )
    # The HTTP clients' own parser, imported here: most requests name no callback.
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        split = urlsplit(url)
        parsed = parse_url(url)
        split_port = split.port
    except (ValueError, LocationParseError):
        raise _refuse("The callback URL is malformed.") from None
    scheme = (split.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not split.hostname:
        raise _refuse("The callback URL must be an http or https URL with a host.")
    if "@" in split.netloc or parsed.auth:
        raise _refuse("The callback URL must not carry credentials.")
    host = split.hostname.lower()
    urllib3_host = (parsed.host or "").strip("[]").lower()
    port = DEFAULT_PORTS[scheme] if split_port is None else split_port
    urllib3_port = DEFAULT_PORTS[scheme] if parsed.port is None else parsed.port
    if not 0 < port < 65536:
        raise _refuse("The callback URL has an invalid port.")
    if urllib3_host != host or urllib3_port != port or (parsed.scheme or "").lower() != scheme:
        raise _refuse("The callback URL is ambiguous; write it in its plain form.")
    if not _is_ip_literal(host) and not _is_dns_name(host):
        raise _refuse("The callback URL's host must be a DNS name or an IP address.")
    if split.fragment:
        raise _refuse("The callback URL must not have a fragment.")
    if policy.ports is not None and port not in policy.ports:
        allowed = ", ".join(str(p) for p in sorted(policy.ports))
        raise _refuse(f"The callback URL's port must be one of: {allowed}.")
    path = split.path or "/"
    if split.query:
        path += "?" + split.query
    return scheme, host, port, path


def _is_dns_name(host: str) -> bool:
    # A top-level label is never numeric: "127.1", "0x7f.1" or "2130706433" are
    # IPv4 addresses in forms that resolvers and clients read differently.
    last = host.rstrip(".").rsplit(".", 1)[-1]
    numeric = last.isdigit() or (last.startswith("0x") and _is_hex(last[2:]))
    return bool(_HOST_NAME.fullmatch(host)) and not numeric


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_callback(
    url: str, policy: CallbackPolicy, resolver: Resolver = system_resolver
) -> CallbackTarget:
    """Parse ``url``, resolve its host once and check every address it resolves to.

    Returns the target with the address to connect to. Raises ``InvalidCallback``
    naming the rule broken.
    """
    scheme, host, port, path = parse_callback_url(url, policy)
    try:
        addresses: Sequence[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = resolver(host, port)
    if not addresses:
        # The same words as a private address: whether an internal name exists
        # is not the client's to learn.
        raise _refuse(_NOT_PUBLIC)
    if not policy.allow_private and not all(is_public_address(a) for a in addresses):
        raise _refuse(_NOT_PUBLIC)
    return CallbackTarget(
        url=url, scheme=scheme, host=host, port=port, path=path, address=addresses[0]
    )


def check_callback_url(
    url: str, policy: CallbackPolicy, resolver: Resolver = system_resolver
) -> str:
    """Return ``url`` if a webhook may be sent there, else raise ``InvalidCallback``."""
    resolve_callback(url, policy, resolver)
    return url
