"""Translation of google-genai, google-cloud-storage and google-auth exceptions into ours.

- genai ``errors.APIError`` carries the HTTP ``code`` and Google's JSON error body
  (``{"error": {code, message, status}}``) as ``details``;
- storage raises ``google.api_core.exceptions.GoogleAPICallError`` (``code``, ``message``,
  ``response``: a ``requests.Response``);
- google-auth raises ``RefreshError`` when the token endpoint refuses (``retryable`` is set
  for 5xx/429 answers) and ``TransportError`` when it cannot be reached;
- transport failures are httpx/httpx2 (genai) or requests (storage, auth) exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.genai import errors as genai_errors

from providers.errors import (
    ProviderError,
    ProviderPermanentError,
    ProviderRetryableError,
    error_for_status,
)


def _headers(response: Any) -> dict[str, str]:
    headers = getattr(response, "headers", None)
    return {str(k): str(v) for k, v in headers.items()} if headers is not None else {}


@contextmanager
def translated(provider: str) -> Iterator[None]:
    """Run the body; re-raise any SDK, auth or transport exception as one of ours."""
    try:
        yield
    except ProviderError:
        raise
    except genai_errors.APIError as exc:
        body = exc.details if exc.details else {"error": {"message": str(exc.message)}}
        raise error_for_status(provider, int(exc.code), body, _headers(exc.response)) from None
    except api_exceptions.GoogleAPICallError as exc:
        code = int(exc.code) if exc.code is not None else 500
        body = {"error": {"message": exc.message or str(exc)}}
        raise error_for_status(provider, code, body, _headers(exc.response)) from None
    except auth_exceptions.RefreshError as exc:
        if getattr(exc, "retryable", False):
            raise ProviderRetryableError(provider, f"token refresh failed: {exc}") from None
        raise ProviderPermanentError(
            provider,
            f"the service account was refused a token: {exc}",
            status_code=401,
            code="invalid_credentials",
            param="credentials_file",
        ) from None
    except (
        auth_exceptions.TransportError,
        httpx.HTTPError,
        httpx2.HTTPError,
        requests.exceptions.RequestException,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise ProviderRetryableError(provider, f"connection failed: {exc!r}") from None
    except auth_exceptions.GoogleAuthError as exc:
        raise ProviderPermanentError(provider, str(exc), param="credentials_file") from None
