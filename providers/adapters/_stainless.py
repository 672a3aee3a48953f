"""Translation of Stainless-generated SDK exceptions (openai, together, fireworks) into ours.

The three SDKs share one exception layout: ``APIConnectionError`` (``APITimeoutError`` is a
subclass) and ``APIStatusError`` carrying ``status_code``, ``body`` and ``response``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from providers.errors import (
    ProviderError,
    ProviderPermanentError,
    ProviderRetryableError,
    error_for_status,
)


@contextmanager
def translated(
    provider: str,
    sdk: Any,
    *,
    alternatives: tuple[str, ...] = (),
    on_status: Callable[[int, Any], None] | None = None,
) -> Iterator[None]:
    """Run the body; re-raise any SDK or transport exception as one of ours."""
    try:
        yield
    except ProviderError:
        raise
    except sdk.APIStatusError as exc:
        if on_status is not None:
            on_status(exc.status_code, exc)
        headers = dict(exc.response.headers.items()) if exc.response is not None else {}
        body = exc.body if exc.body is not None else str(exc.message)
        raise error_for_status(
            provider, exc.status_code, body, headers, alternatives=alternatives
        ) from None
    except sdk.APIConnectionError as exc:
        kind = "timed out" if isinstance(exc, sdk.APITimeoutError) else "connection failed"
        raise ProviderRetryableError(provider, f"{kind}: {exc}") from None
    except sdk.APIError as exc:
        raise ProviderPermanentError(provider, str(exc)) from None
