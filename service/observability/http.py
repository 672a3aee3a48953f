"""``GET /metrics`` (Prometheus text format) and the request-latency middleware."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from service.api.deps import SessionDep, SettingsDep
from service.observability.metrics import counters_registry, observe_http_request
from service.observability.snapshot import StaticCollector, collect_snapshot

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StaticCollector(collect_snapshot(session, settings)))
    counters = generate_latest(counters_registry(settings))
    return Response(generate_latest(registry) + counters, media_type=CONTENT_TYPE_LATEST)


def _route_template(request: Request) -> str:
    # Label by template (/v1/files/{file_id}), never by raw path: bounded cardinality. The
    # router records the matched route in the scope.
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install_observability(app: FastAPI) -> None:
    """Mount ``/metrics`` and time every request."""
    app.include_router(router)

    @app.middleware("http")
    async def _time_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            observe_http_request(
                request.method, _route_template(request), status, time.perf_counter() - started
            )
