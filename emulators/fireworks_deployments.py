"""Fireworks on-demand deployments on the emulator (the SDK's wire paths), and the rule that a
LoRA serves only on one.

- ``POST /v1/accounts/{a}/deployments?deploymentId=…`` ``{baseModel}`` → ``CREATING``,
  ``READY`` after the emulator's deployment delay (409 when the id is taken); ``GET`` reads it;
  ``DELETE`` stops it (``DELETED``).
- A chat completion naming ``<model>#accounts/{a}/deployments/{id}`` answers as ``<model>`` while
  the deployment is ready (503 before, 404 once deleted); naming a tuned model alone is a 404.
- Billed seconds and the delay/ready controls: ``emulators.deployments``'
  ``/_emulator/deployments`` routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.deployments import Deployments, EmulatedDeployment, add_deployment_controls, iso


def refusal(deployments: Deployments, model: str, is_tuned: Any) -> tuple[int, str] | None:
    """Why ``model`` is not served (None: it is)."""
    tuned, _, target = model.partition("#")
    if target:
        found = deployments.deployments.get(target)
        if found is None or found.model != tuned:
            return 404, f"Model {model} not found."
        state = deployments.state(found)
        if state == "DEPLOYMENT_STATE_READY":
            return None
        if state == "DEPLOYMENT_STATE_STOPPED":
            return 404, f"Deployment {target} is deleted."
        return 503, f"Deployment {target} is not ready yet."
    if is_tuned(model):
        return 404, (
            f"Model {model} is a LoRA: it can only be served on an on-demand deployment; "
            "deploy it and call <model>#<deployment>."
        )
    return None


def add_deployment_routes(app: FastAPI, deployments: Deployments, error_body: Any) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(error_body(status, message), status)

    def describe(dep: EmulatedDeployment) -> dict[str, Any]:
        state = {
            "DEPLOYMENT_STATE_READY": "READY",
            "DEPLOYMENT_STATE_STOPPED": "DELETED",
        }.get(deployments.state(dep), "CREATING")
        return {
            "name": dep.public_id,
            "baseModel": dep.model,
            "state": state,
            "createTime": iso(dep.created_at),
            "minReplicaCount": 1,
            "maxReplicaCount": 1,
            "acceleratorType": "NVIDIA_A100_80GB",
        }

    @app.post("/v1/accounts/{account}/deployments")
    async def create(account: str, request: Request, deploymentId: str = "") -> Any:
        deployment_id = deploymentId
        body = await request.json()
        model = body.get("baseModel") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model or not deployment_id:
            return error(400, "'baseModel' and the deploymentId query parameter are required.")
        public = f"accounts/{account}/deployments/{deployment_id}"
        with deployments.lock:
            if public in deployments.deployments:
                return error(409, f"Deployment {public} already exists.")
            now = deployments.clock
            dep = EmulatedDeployment(
                id=public,
                endpoint_id=account,
                endpoint_name=f"{model}#{public}",
                name=deployment_id,
                model=model,
                created=now.monotonic(),
                created_at=now.time(),
                ready=now.monotonic() + deployments.ready_after_s,
                public_id=public,
            )
            deployments.deployments[public] = dep
            return describe(dep)

    @app.get("/v1/accounts/{account}/deployments/{deployment_id}")
    async def get(account: str, deployment_id: str) -> Any:
        with deployments.lock:
            dep = deployments.deployments.get(f"accounts/{account}/deployments/{deployment_id}")
            return error(404, f"No deployment {deployment_id}.") if dep is None else describe(dep)

    @app.delete("/v1/accounts/{account}/deployments/{deployment_id}")
    async def delete(account: str, deployment_id: str) -> Any:
        with deployments.lock:
            dep = deployments.deployments.get(f"accounts/{account}/deployments/{deployment_id}")
            if dep is None or dep.stopped is not None:
                return error(404, f"No deployment {deployment_id}.")
            dep.stopped = deployments.clock.monotonic()
        return {}

    add_deployment_controls(app, deployments, error_body)
