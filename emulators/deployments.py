"""Dedicated deployments on the emulators (Together's endpoint deployments, Fireworks'
on-demand deployments): the store the providers' wire routes share, and its introspection and
control routes.

- A deployment is provisioning until ``ready_after_s`` after its create on the emulator's
  clock, then ready until stopped; it is billed from ready to stopped (or to now while live).
- ``GET /_emulator/deployments``: each deployment with its model, state and
  ``billed_seconds``; ``POST /_emulator/deployments/delay`` ``{"seconds": s}`` sets how long
  new deployments take to be ready; ``POST /_emulator/deployments/ready`` makes every
  provisioning one ready now."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.clock import Clock


@dataclass
class EmulatedDeployment:
    id: str
    endpoint_id: str
    endpoint_name: str
    name: str
    model: str
    created: float
    """Monotonic time of the create."""
    created_at: float
    ready: float
    """Monotonic time it is (or becomes) ready."""
    stopped: float | None = None
    public_id: str = ""
    """The id the provider's API names it by (Together: ``<endpoint>/<deployment>``)."""


class Deployments:
    """The emulator's deployments (and Together's named endpoints that hold them), on its
    clock: provisioning until ``ready_after_s`` after the create, then ready until stopped."""

    def __init__(self, ready_after_s: float, clock: Clock) -> None:
        self.clock = clock
        self.ready_after_s = ready_after_s
        self.lock = threading.Lock()
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, EmulatedDeployment] = {}

    def reset(self) -> None:
        with self.lock:
            self.endpoints.clear()
            self.deployments.clear()

    def state(self, dep: EmulatedDeployment) -> str:
        if dep.stopped is not None:
            return "DEPLOYMENT_STATE_STOPPED"
        if self.clock.monotonic() >= dep.ready:
            return "DEPLOYMENT_STATE_READY"
        return "DEPLOYMENT_STATE_PROVISIONING"

    def billed_seconds(self, dep: EmulatedDeployment) -> float:
        end = dep.stopped if dep.stopped is not None else self.clock.monotonic()
        return round(max(0.0, end - dep.ready), 3)

    def serving(self, model: str) -> EmulatedDeployment | None:
        """The deployment of the Together endpoint ``model`` names (None: not an endpoint)."""
        with self.lock:
            endpoint = next((e for e in self.endpoints.values() if e["name"] == model), None)
            if endpoint is None:
                return None
            found = [d for d in self.deployments.values() if d.endpoint_id == endpoint["id"]]
        return found[0] if found else None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def add_deployment_controls(app: FastAPI, deployments: Deployments, error_body: Any) -> None:
    """The introspection and control routes of an emulator's deployments (Together's and
    Fireworks')."""

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(error_body(status, message), status)

    @app.post("/_emulator/deployments/delay")
    async def set_delay(request: Request) -> Any:
        body = await request.json()
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            return error(400, "'seconds' must be a number >= 0.")
        deployments.ready_after_s = float(seconds)
        return {"seconds": deployments.ready_after_s}

    @app.post("/_emulator/deployments/ready")
    async def make_ready() -> Any:
        now = deployments.clock.monotonic()
        with deployments.lock:
            for dep in deployments.deployments.values():
                if dep.stopped is None and dep.ready > now:
                    dep.ready = now
        return {}

    @app.get("/_emulator/deployments")
    async def introspect() -> Any:
        with deployments.lock:
            deps = list(deployments.deployments.values())
            return {
                "data": [
                    {
                        "id": d.public_id,
                        "model": d.model,
                        "endpoint": d.endpoint_name,
                        "state": deployments.state(d).removeprefix("DEPLOYMENT_STATE_").lower(),
                        "billed_seconds": deployments.billed_seconds(d),
                    }
                    for d in deps
                ]
            }
