from __future__ import annotations

import socket
from typing import Any

import pytest

from service.webhooks.ssrf import (
    UnsafeWebhookUrl,
    UrlPolicy,
    check_webhook_url,
    forbidden_reason,
    parse_webhook_url,
)

PRODUCTION = UrlPolicy(allow_http=False, allow_private=False)
LOCAL = UrlPolicy(allow_http=True, allow_private=True, any_port=True)


def resolving_to(*addresses: str) -> Any:
    def resolver(host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolver


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://hooks.example.com/x", "must use https"),
        ("hooks.example.com/x", "must use https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://token@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://172.16.5.5/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://100.64.0.1/x", "carrier-grade NAT"),
        ("https://0.0.0.0/x", "unspecified"),
        ("https://224.0.0.1/x", "multicast"),
        ("https://240.0.0.1/x", "reserved"),
        ("https://[::1]/x", "loopback"),
        ("https://[fc00::1]/x", "private"),
        ("https://[fd12:3456::1]/x", "private"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://[::ffff:169.254.169.254]/x", "link-local"),
        ("https://[2002:7f00:1::]/x", "loopback"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "link-local"),
        ("https://2130706433/x", "loopback"),
        ("https://0x7f.1/x", "loopback"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
        ("https://hooks.example.com/x\r\nX-Injected: 1", "control characters"),
        ("https://hooks.example.com/a\nb", "control characters"),
        ("https://hooks.example.com/a b", "whitespace"),
        ("https://hooks.example.com:22/x", "port 22 is not allowed"),
        ("https://hooks.example.com:6379/x", "port 6379 is not allowed"),
        ("https://hooks.example.com:80/x", "port 80 is not allowed"),
    ],
)
def test_hostile_urls_are_refused_at_registration(url: str, fragment: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_webhook_url(url, PRODUCTION, resolver=resolving_to("93.184.216.34"))
    assert fragment in caught.value.message
    assert caught.value.param == "url"
    assert caught.value.status_code == 400


def test_a_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UnsafeWebhookUrl, match=r"resolves to a loopback address 127\.0\.0\.1"):
        check_webhook_url("https://evil.example.com/x", PRODUCTION, resolving_to("127.0.0.1"))


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    resolver = resolving_to("93.184.216.34", "10.0.0.7")
    with pytest.raises(UnsafeWebhookUrl, match=r"10\.0\.0\.7"):
        check_webhook_url("https://mixed.example.com/x", PRODUCTION, resolver)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def failing(*args: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        check_webhook_url("https://nowhere.invalid/x", PRODUCTION, failing)


def test_public_https_url_passes() -> None:
    target = check_webhook_url(
        "https://hooks.example.com/tf?x=1", PRODUCTION, resolving_to("93.184.216.34")
    )
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)


def test_local_policy_allows_loopback_http_but_never_multicast_or_unspecified() -> None:
    assert parse_webhook_url("http://127.0.0.1:8080/x", LOCAL).port == 8080
    check_webhook_url("http://localhost:9/x", LOCAL, resolving_to("127.0.0.1"))
    with pytest.raises(UnsafeWebhookUrl, match="multicast"):
        parse_webhook_url("http://224.0.0.1/x", LOCAL)
    with pytest.raises(UnsafeWebhookUrl, match="unspecified"):
        parse_webhook_url("http://[::]/x", LOCAL)


def test_public_ipv6_and_public_embedded_ipv4_pass() -> None:
    import ipaddress

    assert forbidden_reason(ipaddress.ip_address("2606:4700::1111"), PRODUCTION) is None
    assert forbidden_reason(ipaddress.ip_address("::ffff:93.184.216.34"), PRODUCTION) is None


def test_ports_beyond_443_and_80_need_the_operators_allow_list() -> None:
    public = resolving_to("93.184.216.34")
    http = UrlPolicy(allow_http=True)
    assert check_webhook_url("http://hooks.example.com:80/x", http, resolver=public).port == 80
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url("https://hooks.example.com:8443/x", http, resolver=public)
    allowed = UrlPolicy(extra_ports=frozenset({8443}))
    assert check_webhook_url("https://hooks.example.com:8443/x", allowed, resolver=public)
