"""Which webhook URLs we are willing to call, and which addresses they may reach.

A URL is checked twice: when it is registered (syntax, and its addresses as they resolve then)
and again at every send, where the host is resolved, every address is vetted, and the
connection is then made to a vetted address (see ``sender``), so DNS cannot be changed between
the check and the connect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from service.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
"""Shaped like ``socket.getaddrinfo``; tests inject one to make a name resolve anywhere."""

MAX_URL_LENGTH = 2048

# IPv6 prefixes that carry an IPv4 address in their low 32 bits (NAT64, RFC 6052 / RFC 8215).
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class UnsafeWebhookUrl(InvalidRequest):
    default_code = "invalid_webhook_url"


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    allow_private: bool = False
    extra_ports: frozenset[int] = frozenset()
    """Ports allowed besides 443 (and 80 when http is allowed)."""
    any_port: bool = False
    """Any port at all: for development and tests, whose receivers listen on random ports."""

    def allows_port(self, scheme: str, port: int) -> bool:
        standard = {443, 80} if self.allow_http else {443}
        return self.any_port or port in standard or port in self.extra_ports


@dataclass(frozen=True)
class WebhookTarget:
    """A URL that passed the syntactic checks, split into what the connection needs."""

    url: str
    scheme: str
    host: str
    port: int


def parse_webhook_url(url: str, policy: UrlPolicy) -> WebhookTarget:
    """Syntactic checks, without DNS; raises ``UnsafeWebhookUrl`` naming the problem."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"url is longer than {MAX_URL_LENGTH} characters", param="url")
    url = url.strip()
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        # urlsplit silently drops CR/LF/tab; the stored URL would still carry them.
        raise UnsafeWebhookUrl(
            "url must not contain whitespace or control characters (CR, LF, tab)", param="url"
        )
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"url is not a valid URL: {exc}", param="url") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed:
        raise UnsafeWebhookUrl(
            f"url must use {' or '.join(allowed)}, not {scheme or 'no scheme'!r}", param="url"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeWebhookUrl("url must not contain credentials", param="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeWebhookUrl("url has no host", param="url")
    literal = _ip_literal(host)
    if literal is not None:
        reason = forbidden_reason(literal, policy)
        if reason is not None:
            raise UnsafeWebhookUrl(f"url points at {reason} address {literal}", param="url")
    default_port = 443 if scheme == "https" else 80
    if not policy.allows_port(scheme, port or default_port):
        raise UnsafeWebhookUrl(
            f"url port {port} is not allowed: use 443"
            + (" or 80" if policy.allow_http else "")
            + " (an operator can allow more with TUNEFORGE_WEBHOOK_ALLOWED_PORTS)",
            param="url",
        )
    return WebhookTarget(url=url, scheme=scheme, host=host, port=port or default_port)


def resolve_target(
    target: WebhookTarget, policy: UrlPolicy, resolver: Resolver = socket.getaddrinfo
) -> list[IPAddress]:
    """Resolve the host and vet every address; refuses the whole URL if any one is unsafe,
    since a resolver may hand out any of them (and an attacker only needs one)."""
    literal = _ip_literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = resolver(target.host, target.port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UnsafeWebhookUrl(
                f"url host {target.host!r} does not resolve: {exc}", param="url"
            ) from None
        addresses = _unique(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
        if not addresses:
            raise UnsafeWebhookUrl(f"url host {target.host!r} has no addresses", param="url")
    for address in addresses:
        reason = forbidden_reason(address, policy)
        if reason is not None:
            raise UnsafeWebhookUrl(
                f"url host {target.host!r} resolves to {reason} address {address}", param="url"
            )
    return addresses


def check_webhook_url(
    url: str, policy: UrlPolicy, resolver: Resolver = socket.getaddrinfo
) -> WebhookTarget:
    """The registration-time check: syntax plus the addresses the host has right now."""
    target = parse_webhook_url(url, policy)
    resolve_target(target, policy, resolver)
    return target


def forbidden_reason(address: IPAddress, policy: UrlPolicy) -> str | None:
    """Why a webhook may not be sent to ``address``, or None when it may."""
    if address.is_unspecified:
        return "an unspecified"
    if address.is_multicast:
        return "a multicast"
    if policy.allow_private:
        return None
    if address.is_loopback:
        return "a loopback"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = forbidden_reason(embedded, policy)
        if inner is not None:
            return inner + " (embedded in IPv6)"
        return None
    if address.is_link_local:
        return "a link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local"
    if address.is_reserved:
        return "a reserved"
    if address.is_private:
        return "a private"
    if not address.is_global:
        return "a non-global"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated) still routes to the v4 host on some stacks.
    if int(address) >> 32 == 0:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        pass
    # Forms like "2130706433" or "0x7f.1" that inet_aton (and so many HTTP stacks) accept.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _unique(addresses: Any) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for address in addresses:
        if address not in seen:
            seen.append(address)
    return seen
