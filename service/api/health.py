"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import DatabaseDep, SettingsDep
from service.api.objects import Health, Readiness
from service.health import check_broker, check_database

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is down"}},
)
def readyz(database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    checks = [check_database(database), check_broker(settings.broker_url)]
    ready = all(check.ok for check in checks)
    body: dict[str, Any] = {
        "status": "ready" if ready else "unavailable",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JSONResponse(status_code=200 if ready else 503, content=body)
