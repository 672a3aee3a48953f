"""What every request passes before the application reads a byte of its body: the caller of a
``/v1`` route is authenticated from its headers alone, the declared and the actual body size
are bounded (counted while the body streams, never after it has been buffered), and a body of
the wrong media type is refused.

FastAPI reads and parses a route's body before it solves the route's dependencies, so neither
check can be a dependency: an unauthenticated 800 MiB JSON body would be in memory before the
401. Plain ASGI, so a refused request costs no task group and no buffered stream."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message as MimeMessage
from urllib.parse import parse_qsl

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import database_unavailable, is_database_outage
from service.errors import InvalidRequest, PayloadTooLarge, TuneforgeError, UnsupportedMediaType
from service.settings import Settings

API_PREFIX = "/v1/"
UPLOAD_PATH = "/v1/files"
PROVIDER_WEBHOOK_PREFIX = "/provider_webhooks/"
PROVIDER_WEBHOOK_MAX_BYTES = 64 * 1024
# multipart framing around an upload's file bytes (boundaries, part headers, the form fields)
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# PostgreSQL text cannot hold U+0000: a NUL in an id, a cursor or a stored string was a 500
# there (and stored as is on SQLite). Refused alike on both, before anything reads it.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(\\+)u0000")
NUL_IN_BODY = (
    "A string in the JSON body holds a NUL character (\\u0000), which tuneforge does not accept."
)


def holds_nul_escape(body: bytes) -> bool:
    """A JSON text with a ``\\u0000`` escape in a string (an odd run of backslashes before
    ``u0000``; an even one is escaped backslashes and text)."""
    return any(len(m.group(1)) % 2 == 1 for m in _NUL_ESCAPE.finditer(body))


def check_url(path: str, query_string: bytes) -> None:
    if "\x00" in path:
        raise InvalidRequest("The request path holds a NUL character (%00).")
    if b"\x00" not in query_string and b"%00" not in query_string:
        return
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            param = name.replace("\x00", "")
            raise InvalidRequest(
                f"Query parameter {param!r} holds a NUL character (%00).", param=param or None
            )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes its limit; FastAPI lets an ``HTTPException``
    from reading the body through, and the error handlers render it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the {limit}-byte limit.")
        self.limit = limit


@dataclass(frozen=True)
class BodyRule:
    limit: int
    media_types: tuple[str, ...]
    """Accepted media types for a non-empty body; empty: any."""


Authenticator = Callable[[Scope], Awaitable[None]]


def body_rule(settings: Settings, method: str, path: str) -> BodyRule:
    if method == "POST" and path.rstrip("/") == UPLOAD_PATH:
        return BodyRule(
            settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, ("multipart/form-data",)
        )
    if path.startswith(PROVIDER_WEBHOOK_PREFIX):
        return BodyRule(PROVIDER_WEBHOOK_MAX_BYTES, ("application/json",))
    if path.startswith(API_PREFIX):
        return BodyRule(settings.max_json_body_bytes, ("application/json",))
    return BodyRule(settings.max_form_body_bytes, ())


def _media_type(content_type: str) -> str:
    message = MimeMessage()
    message["content-type"] = content_type
    return message.get_content_type()


def _accepts(rule: BodyRule, content_type: str | None) -> bool:
    if not rule.media_types or content_type is None:
        return True  # no header: FastAPI reads the body as JSON, as the OpenAI SDKs send it
    media = _media_type(content_type)
    return any(media == accepted or media.endswith("+json") for accepted in rule.media_types)


class RequestGuard:
    """``authenticate(scope)`` is awaited for every ``/v1`` request before its body is read; it
    stores the caller in the scope's state or raises ``TuneforgeError`` (a 401)."""

    def __init__(self, app: ASGIApp, authenticate: Authenticator) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if path.startswith(API_PREFIX):
                await self.authenticate(scope)
            settings: Settings = scope["app"].state.settings
            rule = body_rule(settings, method, path)
            self._check_declared(rule, method, headers)
            check_url(path, scope.get("query_string", b""))
        except TuneforgeError as refused:
            await _refuse(refused, scope, receive, send)
            return
        except (DBAPIError, PoolTimeoutError) as exc:
            # The key lookup found the database unreachable: 503 with Retry-After, and the
            # connection kept when no unread body is left on it.
            if not is_database_outage(exc):
                raise
            response = database_unavailable()
            if _has_body(headers):
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        json_body = rule.media_types == ("application/json",)
        await self.app(scope, _bounded(receive, rule.limit, json_body), send)

    @staticmethod
    def _check_declared(rule: BodyRule, method: str, headers: dict[str, str]) -> None:
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > rule.limit:
            raise PayloadTooLarge(
                f"The request body ({declared} bytes) is larger than the {rule.limit}-byte limit.",
                code="request_too_large",
            )
        has_body = (declared.isdigit() and int(declared) > 0) or "transfer-encoding" in headers
        if method in _BODY_METHODS and has_body and not _accepts(rule, headers.get("content-type")):
            raise UnsupportedMediaType(
                f"Unsupported content type {headers.get('content-type')!r}: send "
                f"{' or '.join(rule.media_types)}.",
                code="unsupported_media_type",
            )


def _has_body(headers: dict[str, str]) -> bool:
    declared = headers.get("content-length", "").strip()
    return (declared.isdigit() and int(declared) > 0) or "transfer-encoding" in headers


def _bounded(receive: Receive, limit: int, json_body: bool = False) -> Receive:
    """Counts the body as it streams; a JSON body (at most ``limit`` bytes, which the route
    buffers whole anyway) is also kept until its last chunk to look for a NUL escape."""
    seen = 0
    kept = bytearray()

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise BodyTooLarge(limit)
            if json_body:
                kept.extend(chunk)
                if not message.get("more_body", False) and holds_nul_escape(bytes(kept)):
                    raise HTTPException(400, NUL_IN_BODY)
        return message

    return counted


async def _refuse(error: TuneforgeError, scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"Connection": "close"}
    response = JSONResponse(error.body(), status_code=error.status_code, headers=headers)
    await response(scope, receive, send)
