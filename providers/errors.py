"""Our provider error classes, and the one place HTTP outcomes are classified.

- ``ProviderRetryableError``: connection lost, timeout, 408, 409 on a create race, 429
  (``retry_after`` seconds when the provider said), 5xx. Try again later (after reconciling
  by tag when the failed call was a create).
- ``ProviderPermanentError``: 400/401/403/404/422 and the like; ``message`` is the provider's.
- ``ProviderRetiredError``: 410 or a known retired API; ``alternatives`` names providers to
  use instead.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping


class ProviderError(Exception):
    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param


class ProviderRetryableError(ProviderError):
    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, status_code=status_code, code=code)
        self.retry_after = retry_after


class ProviderPermanentError(ProviderError):
    pass


class ProviderRetiredError(ProviderPermanentError):
    def __init__(self, provider: str, message: str, *, alternatives: tuple[str, ...]) -> None:
        names = ", ".join(alternatives)
        super().__init__(
            provider,
            f"{message} The provider has retired this API; use one of: {names}.",
            status_code=410,
            code="provider_retired",
        )
        self.alternatives = alternatives


RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``, then ``retry-after`` as seconds or an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def message_from_body(body: object, fallback: str) -> tuple[str, str | None, str | None]:
    """(message, code, param) from the error bodies providers send (OpenAI-style, FastAPI
    ``detail``, gRPC-gateway ``{code, message}``), or ``fallback``."""
    if isinstance(body, str | bytes):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            return (text.strip() or fallback, None, None)
    if not isinstance(body, dict):
        return (fallback, None, None)
    inner = body.get("error", body)
    if isinstance(inner, dict):
        message = inner.get("message") or inner.get("detail")
        code, param = inner.get("code"), inner.get("param")
        if isinstance(message, list):
            message = "; ".join(
                str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in message
            )
        if message:
            return (
                str(message),
                str(code) if code is not None else None,
                str(param) if param is not None else None,
            )
    if isinstance(inner, str):
        return (str(body.get("message") or inner), None, None)
    return (fallback, None, None)


def error_for_status(
    provider: str,
    status_code: int,
    body: object,
    headers: Mapping[str, str],
    *,
    alternatives: tuple[str, ...] = (),
) -> ProviderError:
    message, code, param = message_from_body(body, f"HTTP {status_code}")
    if status_code == 410:
        return ProviderRetiredError(provider, message, alternatives=alternatives)
    if status_code in RETRYABLE_STATUS or status_code >= 500:
        return ProviderRetryableError(
            provider,
            message,
            status_code=status_code,
            code=code,
            retry_after=parse_retry_after(headers),
        )
    return ProviderPermanentError(
        provider, message, status_code=status_code, code=code, param=param
    )
