"""``GET /metrics`` (Prometheus text format) and the request-latency middleware."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import SessionDep, SettingsDep
from service.errors import Unauthorized
from service.observability.metrics import counters_registry, observe_http_request
from service.observability.snapshot import StaticCollector, collect_snapshot

router = APIRouter(tags=["operations"])


async def require_metrics_token(request: Request, settings: SettingsDep) -> None:
    """With ``metrics_token`` set, a scrape must send ``Authorization: Bearer <token>``."""
    if settings.metrics_token is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
        raise Unauthorized("GET /metrics needs Authorization: Bearer <TUNEFORGE_METRICS_TOKEN>.")


# The token is checked before the session opens: refused scrapes cost no connection.
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_token)])
def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StaticCollector(collect_snapshot(session, settings)))
    counters = generate_latest(counters_registry(settings))
    return Response(generate_latest(registry) + counters, media_type=CONTENT_TYPE_LATEST)


def _route_template(scope: Scope) -> str:
    # Label by template (/v1/files/{file_id}), never by raw path: bounded cardinality. The
    # router records the matched route in the scope.
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class _RequestTimer:
    """Plain ASGI (not ``@app.middleware``, whose per-request task group and streams cost as
    much as a whole small request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            observe_http_request(
                scope["method"], _route_template(scope), status, time.perf_counter() - started
            )


def install_observability(app: FastAPI) -> None:
    """Mount ``/metrics`` and time every request."""
    app.include_router(router)
    app.add_middleware(_RequestTimer)
