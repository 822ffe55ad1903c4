"""The callback URL rules: every SSRF form refused, in-process, with a fake resolver."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.core.errors import InvalidCallback
from chalicelib.webhooks.callbacks import (
    CallbackPolicy,
    IPAddress,
    check_callback_url,
    is_public_address,
    resolve_callback,
)

PUBLIC = ipaddress.ip_address("93.184.216.34")
STRICT = CallbackPolicy()


class FakeResolver:
    """Answers from a table (every other name: the public address); counts its calls."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        return [ipaddress.ip_address(a) for a in self.answers.get(host, [str(PUBLIC)])]


def refused(url: str, resolver: FakeResolver | None = None) -> str:
    with pytest.raises(InvalidCallback) as caught:
        resolve_callback(url, STRICT, resolver or FakeResolver())
    assert caught.value.code == "invalid_callback_url"
    return caught.value.message


# Each of these reaches, or could reach, something other than a public web server.
BYPASSES = [
    # The parser differential: urlsplit reads host "127.0.0.1x.attacker.example",
    # an HTTP client reads host 127.0.0.1 and path "\x.attacker.example/hook".
    "http://127.0.0.1\\x.attacker.example/hook",
    "http://169.254.169.254\\x.attacker.example/latest/meta-data/",
    "http://127.0.0.1\\@attacker.example/",
    "http://attacker.example\\@127.0.0.1/",
    "http://127.0.0.1:80\\@attacker.example/",
    "http://attacker.example@127.0.0.1/",
    "http://user:pw@attacker.example/",
    "http://127.0.0.1#@attacker.example/",
    "http://127.0.0.1%2f@attacker.example/",
    "http://127.0.0.1%00.attacker.example/",
    "http://127.0.0.1%09.attacker.example/",
    "http://127.0.0.1\t.attacker.example/",
    "http://attacker.example\n.127.0.0.1/",
    "http://127.0.0.1 .attacker.example/",
    "http://ex\u0430mple.com/",  # a Cyrillic letter
    "http://xn--80ak6aa92e.com:22/",  # a public name, but port 22
    # Literal addresses, in every spelling.
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://198.18.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    # Schemes, ports and shapes.
    "ftp://attacker.example/",
    "file:///etc/passwd",
    "gopher://attacker.example:70/",
    "javascript:alert(1)",
    "//attacker.example/",
    "http:///path-only",
    "http://attacker.example:8080/",
    "http://attacker.example:6379/",
    "http://attacker.example:0/",
    "http://attacker.example:99999/",
    "http://attacker.example:-1/",
    "https://attacker.example:80x/",
    "http://attacker.example/#fragment",
    "not a url",
    "",
]


@pytest.mark.parametrize("url", BYPASSES)
def test_forms_that_reach_elsewhere_are_refused(url: str) -> None:
    refused(url)


@pytest.mark.parametrize(
    "answer",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.100.100.200",
        "::1",
        "fd00::1",
        "64:ff9b::a00:1",
        "2002:c0a8:101::1",
        "::ffff:10.0.0.1",
        "224.0.0.251",
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(answer: str) -> None:
    message = refused(
        "https://hooks.attacker.example/x", FakeResolver({"hooks.attacker.example": [answer]})
    )
    # The message says which rule, never which address: the API resolves no names for anyone.
    assert answer not in message and "hooks.attacker.example" not in message


def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    refused(
        "https://mixed.example/",
        FakeResolver({"mixed.example": [str(PUBLIC), "127.0.0.1"]}),
    )


def test_a_name_that_does_not_resolve_reads_like_a_private_one() -> None:
    unresolved = refused("https://nowhere.example/", FakeResolver({"nowhere.example": []}))
    private = refused("https://inside.example/", FakeResolver({"inside.example": ["10.0.0.1"]}))
    assert unresolved == private


@pytest.mark.parametrize(
    ("url", "host", "port", "path", "host_header"),
    [
        ("https://hooks.example.com/in", "hooks.example.com", 443, "/in", "hooks.example.com"),
        (
            "HTTPS://Hooks.Example.COM/a?b=c&d",
            "hooks.example.com",
            443,
            "/a?b=c&d",
            "hooks.example.com",
        ),
        ("http://hooks.example.com", "hooks.example.com", 80, "/", "hooks.example.com"),
        ("http://hooks.example.com:443/x", "hooks.example.com", 443, "/x", "hooks.example.com:443"),
        (
            "https://xn--bcher-kva.example/%20x",
            "xn--bcher-kva.example",
            443,
            "/%20x",
            "xn--bcher-kva.example",
        ),
        ("https://93.184.216.34/h", "93.184.216.34", 443, "/h", "93.184.216.34"),
        ("https://[2606:4700::1111]/h", "2606:4700::1111", 443, "/h", "[2606:4700::1111]"),
    ],
)
def test_public_urls_are_accepted(
    url: str, host: str, port: int, path: str, host_header: str
) -> None:
    target = resolve_callback(url, STRICT, FakeResolver())
    assert (target.host, target.port, target.path, target.host_header) == (
        host,
        port,
        path,
        host_header,
    )
    assert is_public_address(target.address)


def test_the_checked_address_is_the_one_to_dial() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34", "93.184.216.35"]})
    target = resolve_callback("https://hooks.example.com/", STRICT, resolver)
    assert str(target.address) == "93.184.216.34"
    assert resolver.calls == ["hooks.example.com"]


def test_an_ip_literal_is_never_resolved() -> None:
    resolver = FakeResolver()
    resolve_callback("https://93.184.216.34/", STRICT, resolver)
    assert resolver.calls == []


def test_the_local_policy_allows_loopback_and_any_port() -> None:
    local = CallbackPolicy(allow_private=True, ports=None)
    target = resolve_callback("http://127.0.0.1:8123/hook", local, FakeResolver())
    assert (str(target.address), target.port) == ("127.0.0.1", 8123)
    # The parser rules hold even locally.
    with pytest.raises(InvalidCallback):
        check_callback_url("http://127.0.0.1\\x.attacker.example/", local, FakeResolver())


def test_configured_ports_are_the_only_ones() -> None:
    policy = CallbackPolicy(ports=frozenset({8443}))
    assert check_callback_url("https://hooks.example.com:8443/", policy, FakeResolver())
    with pytest.raises(InvalidCallback, match="8443"):
        check_callback_url("https://hooks.example.com/", policy, FakeResolver())


def test_a_very_long_url_is_refused() -> None:
    refused("https://hooks.example.com/" + "a" * 3000)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),
        ("::ffff:8.8.8.8", True),  # mapped: judged by the IPv4 address it leads to
        ("ff0e::1", False),
        ("233.252.0.1", False),
    ],
)
def test_the_address_rule(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
