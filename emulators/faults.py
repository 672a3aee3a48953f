"""Fault injection for the emulators: rules armed through ``/_emulator/faults`` and the
middleware that applies them to provider API requests.

Fault kinds (a rule matches on ``method`` and a ``path`` regex (``re.search``), and fires ``count``
times; ``count: -1`` means forever):

- ``status``: answer ``status`` with the provider's error body (and ``Retry-After`` when
  ``retry_after`` is set) without running the handler.
- ``slow``: wait ``seconds``, then answer normally.
- ``hang``: wait ``seconds``, then drop the connection without answering.
- ``drop``: drop the connection without running the handler.
- ``drop_after``: run the handler (so a job *is* created), then drop the connection.
- ``fail_job``: the next created job ends failed with ``message`` (no request matching).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import Match

if TYPE_CHECKING:
    from emulators.core import EmulatorState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], dict[str, Any]]

current_authorization: ContextVar[str | None] = ContextVar("emulator_authorization", default=None)
"""The ``Authorization`` header of the provider API request being served (set by the
middleware below, which sees every such request first)."""


class FaultRule(BaseModel):
    kind: Literal["status", "slow", "hang", "drop", "drop_after", "fail_job"]
    method: str | None = None
    path: str | None = None
    status: int = 500
    retry_after: float | None = None
    seconds: float = 30.0
    count: int = 1
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.kind == "fail_job":
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or re.search(self.path, path) is not None


class ConnectionDropped(Exception):
    """Raised after a response has started, so the server closes the socket mid-answer."""


class FaultMiddleware:
    """Applies armed fault rules to every request outside ``/_emulator``."""

    def __init__(
        self, app: ASGIApp, state: EmulatorState, error_body: ErrorBody, routed: FastAPI
    ) -> None:
        self.app = app
        self.state = state
        self.error_body = error_body
        self.routed = routed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        self.state.requests += 1
        authorization = _header(scope, b"authorization")
        current_authorization.set(authorization)
        endpoint = f"{scope['method']} {_route_template(self.routed, scope)}"
        with self.state.lock:
            self.state.request_log.append(
                {"method": scope["method"], "path": path, "authorization": authorization}
            )
            self.state.requests_by_endpoint[endpoint] += 1
        rule = self.state.take_fault(scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "status":
            message = rule.message or f"Emulated error {rule.status}"
            headers = (
                {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
            )
            response = JSONResponse(self.error_body(rule.status, message), rule.status, headers)
            await response(scope, receive, send)
        elif rule.kind == "slow":
            await asyncio.sleep(rule.seconds)
            await self.app(scope, receive, send)
        elif rule.kind == "hang":
            await asyncio.sleep(rule.seconds)
            await _drop(send)
        elif rule.kind == "drop":
            await _drop(send)
        else:  # drop_after

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _drop(send)


async def _drop(send: Send) -> None:
    # Promise a body, then abort: uvicorn closes the socket and the client sees a broken
    # connection (not an HTTP error), exactly as when a response is lost on the way back.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})
    raise ConnectionDropped("emulated connection drop")


def with_faults(app: FastAPI, state: EmulatorState, error_body: ErrorBody) -> ASGIApp:
    app.state.emulator = state
    return FaultMiddleware(app, state, error_body, app)


def _route_template(app: FastAPI, scope: Scope) -> str:
    """The route a request is for, as declared (``/v1/fine_tuning/jobs/{job_id}``), so that
    requests count per endpoint rather than per job; the raw path when no route matches."""
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", scope.get("path", "")))
    return str(scope.get("path", ""))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
