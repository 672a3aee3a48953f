"""One error base class: every failure a client can see carries its HTTP status and an
OpenAI-style ``type``/``code``/``param`` so the API renders it the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar


def field_path(parts: Iterable[str | int]) -> str:
    """A field's name as OpenAI writes ``param`` and as our own checks do: ``a.b[0].c``."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


class TuneforgeError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.extra = extra or {}
        self.headers: dict[str, str] = {}  # sent with the error response (e.g. Retry-After)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(TuneforgeError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class UnknownCursor(InvalidRequest):
    """A page cursor (``after``) that names nothing of the caller's: restarting at page 1 would
    hand a client the same items again, forever."""

    default_code = "invalid_cursor"

    def __init__(self, after: str) -> None:
        super().__init__(
            f"Invalid 'after': no object with id {after!r} to continue from.", param="after"
        )


class Unauthorized(TuneforgeError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class Forbidden(TuneforgeError):
    status_code = 403
    error_type = "invalid_request_error"
    default_code = "forbidden"


class NotFound(TuneforgeError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class Conflict(TuneforgeError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(TuneforgeError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "file_too_large"


class UnsupportedMediaType(TuneforgeError):
    status_code = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class UnprocessableEntity(TuneforgeError):
    status_code = 422
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class RateLimited(TuneforgeError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class ServiceUnavailable(TuneforgeError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"
