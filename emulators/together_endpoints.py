"""Together's dedicated endpoints on the emulator (the SDK's v2 endpoints API, by its wire
paths), and the rule that a tuned model serves only on one.

- ``POST /v2/projects/{p}/endpoints`` ``{name}`` → an endpoint (409 when the name is taken);
  ``POST …/endpoints/{e}/deployments`` ``{name, model, autoscaling}`` → a deployment in
  ``DEPLOYMENT_STATE_PROVISIONING``, ``READY`` ``ready_after_s`` later on the emulator's clock;
  ``DELETE`` a deployment stops it (``STOPPED``), then its endpoint may be deleted.
- A chat completion naming an endpoint answers as the deployed tuned model while it is ready
  (503 before, 404 once stopped). Naming a tuned model itself is refused with 404, unless the
  job's base is one of ``SERVERLESS_LORA_BASES`` (the serverless LoRA list of older docs).
- ``GET /_emulator/deployments``: each deployment with its model, state and
  ``billed_seconds`` (ready → stopped, or → now while live); ``POST
  /_emulator/deployments/delay`` ``{"seconds": s}`` sets how long new deployments take to be
  ready; ``POST /_emulator/deployments/ready`` makes every provisioning one ready now."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.clock import Clock

SERVERLESS_LORA_BASES = frozenset(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    }
)


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


class Endpoints:
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
        """The live deployment whose endpoint ``model`` names (None: not an endpoint)."""
        with self.lock:
            endpoint = next((e for e in self.endpoints.values() if e["name"] == model), None)
            if endpoint is None:
                return None
            found = [d for d in self.deployments.values() if d.endpoint_id == endpoint["id"]]
        return found[0] if found else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def add_endpoint_routes(app: FastAPI, endpoints: Endpoints, error_body: Any) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(error_body(status, message), status)

    def endpoint_json(project: str, endpoint: dict[str, Any]) -> dict[str, Any]:
        deps = [d for d in endpoints.deployments.values() if d.endpoint_id == endpoint["id"]]
        return {
            "id": endpoint["id"],
            "name": endpoint["name"],
            "projectId": project,
            "endpointType": "ENDPOINT_TYPE_DEDICATED",
            "visibility": "VISIBILITY_PRIVATE",
            "etag": endpoint["id"],
            "createdAt": _iso(endpoint["created_at"]),
            "updatedAt": _iso(endpoint["created_at"]),
            "deployments": [{"id": d.id, "name": d.name} for d in deps],
            "trafficSplit": [],
        }

    def deployment_json(project: str, dep: EmulatedDeployment) -> dict[str, Any]:
        state = endpoints.state(dep)
        return {
            "id": dep.id,
            "endpointId": dep.endpoint_id,
            "projectId": project,
            "name": dep.name,
            "model": dep.model,
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
            "status": {"state": state, "message": state.removeprefix("DEPLOYMENT_STATE_")},
            "createdAt": _iso(dep.created_at),
            "updatedAt": _iso(dep.created_at),
            "etag": dep.id,
            "trafficMode": "TRAFFIC_MODE_LIVE",
        }

    base = "/v2/projects/{project}/endpoints"

    @app.post(base)
    async def create_endpoint(project: str, request: Request) -> Any:
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return error(400, "'name' is required.")
        with endpoints.lock:
            if any(e["name"] == name for e in endpoints.endpoints.values()):
                return error(409, f"An endpoint named {name!r} exists.")
            endpoint_id = f"ep-{secrets.token_hex(6)}"
            endpoint = {"id": endpoint_id, "name": name, "created_at": endpoints.clock.time()}
            endpoints.endpoints[endpoint_id] = endpoint
            return endpoint_json(project, endpoint)

    @app.get(base)
    async def list_endpoints(project: str) -> Any:
        with endpoints.lock:
            return {"data": [endpoint_json(project, e) for e in endpoints.endpoints.values()]}

    @app.get(base + "/{endpoint_id}")
    async def get_endpoint(project: str, endpoint_id: str) -> Any:
        with endpoints.lock:
            endpoint = endpoints.endpoints.get(endpoint_id)
            if endpoint is None:
                return error(404, f"No endpoint {endpoint_id!r}.")
            return endpoint_json(project, endpoint)

    @app.delete(base + "/{endpoint_id}")
    async def delete_endpoint(project: str, endpoint_id: str) -> Any:
        with endpoints.lock:
            if endpoint_id not in endpoints.endpoints:
                return error(404, f"No endpoint {endpoint_id!r}.")
            live = [
                d
                for d in endpoints.deployments.values()
                if d.endpoint_id == endpoint_id and d.stopped is None
            ]
            if live:
                return error(400, "Delete the endpoint's deployments first.")
            del endpoints.endpoints[endpoint_id]
        return {}

    @app.post(base + "/{endpoint_id}/deployments")
    async def create_deployment(project: str, endpoint_id: str, request: Request) -> Any:
        body = await request.json()
        if not isinstance(body, dict) or not body.get("model") or not body.get("name"):
            return error(400, "'name' and 'model' are required.")
        with endpoints.lock:
            if endpoint_id not in endpoints.endpoints:
                return error(404, f"No endpoint {endpoint_id!r}.")
            dep = EmulatedDeployment(
                id=f"dep-{secrets.token_hex(6)}",
                endpoint_id=endpoint_id,
                endpoint_name=str(endpoints.endpoints[endpoint_id]["name"]),
                name=str(body["name"]),
                model=str(body["model"]),
                created=endpoints.clock.monotonic(),
                created_at=endpoints.clock.time(),
                ready=endpoints.clock.monotonic() + endpoints.ready_after_s,
            )
            dep.public_id = f"{endpoint_id}/{dep.id}"
            endpoints.deployments[dep.id] = dep
            return deployment_json(project, dep)

    @app.get(base + "/{endpoint_id}/deployments")
    async def list_deployments(project: str, endpoint_id: str) -> Any:
        with endpoints.lock:
            deps = [d for d in endpoints.deployments.values() if d.endpoint_id == endpoint_id]
            return {"data": [deployment_json(project, d) for d in deps]}

    @app.get(base + "/{endpoint_id}/deployments/{dep_id}")
    async def get_deployment(project: str, endpoint_id: str, dep_id: str) -> Any:
        with endpoints.lock:
            dep = endpoints.deployments.get(dep_id)
            if dep is None or dep.endpoint_id != endpoint_id:
                return error(404, f"No deployment {dep_id!r}.")
            return deployment_json(project, dep)

    @app.delete(base + "/{endpoint_id}/deployments/{dep_id}")
    async def delete_deployment(project: str, endpoint_id: str, dep_id: str) -> Any:
        with endpoints.lock:
            dep = endpoints.deployments.get(dep_id)
            if dep is None or dep.endpoint_id != endpoint_id:
                return error(404, f"No deployment {dep_id!r}.")
            if dep.stopped is None:
                dep.stopped = endpoints.clock.monotonic()
        return {}

    add_deployment_controls(app, endpoints, error_body)


def add_deployment_controls(app: FastAPI, endpoints: Endpoints, error_body: Any) -> None:
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
        endpoints.ready_after_s = float(seconds)
        return {"seconds": endpoints.ready_after_s}

    @app.post("/_emulator/deployments/ready")
    async def make_ready() -> Any:
        now = endpoints.clock.monotonic()
        with endpoints.lock:
            for dep in endpoints.deployments.values():
                if dep.stopped is None and dep.ready > now:
                    dep.ready = now
        return {}

    @app.get("/_emulator/deployments")
    async def introspect() -> Any:
        with endpoints.lock:
            deps = list(endpoints.deployments.values())
            return {
                "data": [
                    {
                        "id": d.public_id,
                        "model": d.model,
                        "endpoint": d.endpoint_name,
                        "state": endpoints.state(d).removeprefix("DEPLOYMENT_STATE_").lower(),
                        "billed_seconds": endpoints.billed_seconds(d),
                    }
                    for d in deps
                ]
            }
