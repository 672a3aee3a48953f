"""Together's dedicated endpoints on the emulator (the SDK's v2 endpoints API, by its wire
paths), and the rule that a tuned model serves only on one.

- ``POST /v2/projects/{p}/endpoints`` ``{name}`` → an endpoint (409 when the name is taken);
  ``POST …/endpoints/{e}/deployments`` ``{name, model, autoscaling}`` → a deployment in
  ``DEPLOYMENT_STATE_PROVISIONING``, ``READY`` ``ready_after_s`` later on the emulator's clock;
  ``DELETE`` a deployment stops it (``STOPPED``), then its endpoint may be deleted.
- A chat completion naming an endpoint answers as the deployed tuned model while it is ready
  (503 before, 404 once stopped). Naming a tuned model itself is refused with 404, unless the
  job's base is one of ``SERVERLESS_LORA_BASES`` (the serverless LoRA list of older docs).
- Billed seconds and the delay/ready controls: ``emulators.deployments``'
  ``/_emulator/deployments`` routes."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.deployments import Deployments, EmulatedDeployment, add_deployment_controls, iso

SERVERLESS_LORA_BASES = frozenset(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    }
)


def add_endpoint_routes(app: FastAPI, endpoints: Deployments, error_body: Any) -> None:
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
            "createdAt": iso(endpoint["created_at"]),
            "updatedAt": iso(endpoint["created_at"]),
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
            "createdAt": iso(dep.created_at),
            "updatedAt": iso(dep.created_at),
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
