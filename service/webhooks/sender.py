"""One delivery attempt: POST the signed JSON to a vetted address of the endpoint's host.

The host is resolved and every address checked (``ssrf``) right before the request, and the
connection goes to the checked address itself, while the ``Host`` header, TLS SNI and the
certificate check keep using the URL's hostname — there is no second DNS lookup to rebind.
Redirects are not followed (a 3xx is a failure), proxies from the environment are ignored,
and at most the first KiB of the response is read.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import anyio
import httpx

from service.webhooks.ssrf import (
    IPAddress,
    Resolver,
    UnsafeWebhookUrl,
    UrlPolicy,
    WebhookTarget,
    parse_webhook_url,
    resolve_target,
)

RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "tuneforge-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    response_excerpt: str | None
    error: str | None
    retry_after_s: float | None = None
    refused: bool = False
    """True when the URL failed the SSRF policy and nothing was sent."""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def send_webhook(
    url: str,
    body: str,
    headers: Mapping[str, str],
    *,
    policy: UrlPolicy,
    timeout_s: float,
    resolver: Resolver = socket.getaddrinfo,
    verify: ssl.SSLContext | bool = True,
) -> AttemptResult:
    """``timeout_s`` bounds the whole attempt (connect, send, the response's first KiB), not
    each read: a receiver that dribbles a byte every few seconds cannot hold a worker."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse_webhook_url(url, policy)
        addresses = resolve_target(target, policy, resolver)
    except UnsafeWebhookUrl as exc:
        return AttemptResult(None, elapsed_ms(), None, f"refused: {exc.message}", refused=True)
    try:
        return anyio.run(_post, target, addresses, body, headers, timeout_s, verify, started)
    except TimeoutError:
        return AttemptResult(None, elapsed_ms(), None, f"timed out after {timeout_s:g}s in all")


async def _post(
    target: WebhookTarget,
    addresses: Sequence[IPAddress],
    body: str,
    headers: Mapping[str, str],
    deadline_s: float,
    verify: ssl.SSLContext | bool,
    started: float,
) -> AttemptResult:
    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    original = httpx.URL(target.url)
    request_headers = {
        **headers,
        "Host": original.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    content = body.encode("utf-8")
    last_error = "no address to connect to"
    # Built before the clock starts: loading the CA bundle is our time, not the receiver's.
    client = httpx.AsyncClient(
        timeout=deadline_s, follow_redirects=False, trust_env=False, verify=verify
    )
    async with client:
        with anyio.fail_after(deadline_s):
            for address in addresses:
                pinned = original.copy_with(host=str(address))
                try:
                    async with client.stream(
                        "POST",
                        pinned,
                        content=content,
                        headers=request_headers,
                        extensions=extensions,
                    ) as response:
                        excerpt = await _read_excerpt(response)
                        return AttemptResult(
                            status_code=response.status_code,
                            latency_ms=elapsed_ms(),
                            response_excerpt=excerpt,
                            error=_status_error(response),
                            retry_after_s=_retry_after_s(response),
                        )
                except httpx.ConnectError as exc:
                    # Another vetted address of the same host may still be reachable.
                    last_error = f"could not connect to {address}: {exc or type(exc).__name__}"
                except httpx.TimeoutException as exc:
                    return AttemptResult(
                        None,
                        elapsed_ms(),
                        None,
                        f"timed out after {deadline_s:g}s ({type(exc).__name__})",
                    )
                except httpx.HTTPError as exc:
                    return AttemptResult(None, elapsed_ms(), None, f"{type(exc).__name__}: {exc}")
    return AttemptResult(None, elapsed_ms(), None, last_error)


async def _read_excerpt(response: httpx.Response) -> str:
    collected = b""
    async for chunk in response.aiter_raw():
        collected += chunk
        if len(collected) >= RESPONSE_EXCERPT_BYTES:
            break
    return collected[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def _status_error(response: httpx.Response) -> str | None:
    code = response.status_code
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        location = response.headers.get("location", "")
        return f"HTTP {code}: redirect to {location!r} not followed"
    return f"HTTP {code}"


def _retry_after_s(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
