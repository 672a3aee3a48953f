"""Every error leaves the API in OpenAI's body shape, whatever raised it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import TuneforgeError, field_path

log = logging.getLogger(__name__)

_HTTP_CODES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


DATABASE_RETRY_AFTER_S = 5
"""What a client is told to wait when the database is unreachable (a restart, a failover)."""


def error_response(
    status: int,
    message: str,
    *,
    type_: str,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(status_code=status, content=body, headers=headers)


# Parts of a pydantic error location that name a member of a union, not a request field.
_UNION_TAGS = frozenset({"int", "float", "str", "bool", "none", "decimal", "dict", "list"})


def _is_union_tag(part: Any) -> bool:
    text = str(part)
    return "[" in text or text.startswith(("constrained-", "function-")) or text in _UNION_TAGS


def database_unavailable() -> JSONResponse:
    return error_response(
        503,
        "The service cannot reach its database right now; retry shortly.",
        type_="server_error",
        code="database_unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def is_database_outage(exc: BaseException) -> bool:
    """The database is unreachable or its connection broke (not a bug in a query)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _param_from_loc(loc: tuple[Any, ...], body: Any = None) -> str | None:
    """``a.b[0].c``; a discriminated union's tag (the ``type`` value pydantic puts in the
    location, found by walking the request body beside it) is no field and is left out."""
    parts: list[str | int] = []
    node = body
    for part in loc:
        if part in ("body", "query", "path", "header", "form"):
            continue
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        parts.append(part if isinstance(part, int) else str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    while parts and _is_union_tag(parts[-1]):
        parts.pop()
    return field_path(parts) or None


def _most_telling(errors: list[Any]) -> Any:
    """Of a union's errors, the one about the number rather than "should be 'auto'"."""
    return sorted(errors, key=lambda e: any("literal[" in str(p) for p in e.get("loc", ())))[0]


def _validation_message(error: dict[str, Any], body: Any) -> tuple[str, str | None]:
    loc = tuple(error.get("loc", ()))
    param = _param_from_loc(loc, body)
    kind = error.get("type", "")
    if kind == "json_invalid":
        detail = error.get("ctx", {}).get("error", "")
        return f"We could not parse the JSON body of your request: {detail}".strip(), None
    if kind == "missing" and param is None:  # the whole body
        return "A JSON request body is required.", None
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    message = error.get("msg", "Invalid value")
    return (f"Invalid value for '{param}': {message}." if param else f"{message}."), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TuneforgeError)
    async def _tuneforge(_: Request, exc: TuneforgeError) -> JSONResponse:
        headers = {}
        retry_after = exc.extra.get("retry_after") if exc.extra else None
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        headers.update(exc.headers)
        return JSONResponse(status_code=exc.status_code, content=exc.body(), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        message, param = (
            _validation_message(_most_telling(errors), exc.body)
            if errors
            else ("Invalid request.", None)
        )
        # a union's members each report the same field: count fields, not errors
        others = {_param_from_loc(tuple(e.get("loc", ())), exc.body) for e in errors} - {param}
        if others:
            message += f" ({len(others)} more problem(s) in this request.)"
        return error_response(
            400, message, type_="invalid_request_error", code="invalid_request", param=param
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_, code = _HTTP_CODES.get(exc.status_code, ("invalid_request_error", "invalid_request"))
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"Unknown request URL: {request.method} {request.url.path}."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, type_=type_, code=code, headers=exc.headers)

    # Handlers for these classes run inside the app (not in the outermost error middleware,
    # which re-raises and makes the server drop the keep-alive connection): a database outage
    # is a 503 with Retry-After on every route, and the client's connection stays usable.
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if is_database_outage(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
            return database_unavailable()
        return _server_error(request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _server_error(request)


def _server_error(request: Request) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type_="server_error",
        code="internal_error",
    )
