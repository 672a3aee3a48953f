"""Together dedicated endpoints (the ``together`` SDK's v2 endpoints API): a tuned model serves
only on one. An endpoint (its ``name`` is the model string chat completions call) holds one
deployment of the model with one replica; our deployment id is ``<endpoint id>/<deployment
id>``. Deleting stops the deployment, then removes the endpoint."""

from __future__ import annotations

from typing import Any

import together

from providers.adapters._stainless import translated
from providers.base import Deployment, DeploymentState
from providers.errors import ProviderError, ProviderPermanentError

PROVIDER = "together"
STATES = {
    "DEPLOYMENT_STATE_PROVISIONING": DeploymentState.PENDING,
    "DEPLOYMENT_STATE_SCALING": DeploymentState.PENDING,
    "DEPLOYMENT_STATE_READY": DeploymentState.READY,
    "DEPLOYMENT_STATE_DEGRADED": DeploymentState.READY,
    "DEPLOYMENT_STATE_FAILED": DeploymentState.FAILED,
    "DEPLOYMENT_STATE_STOPPING": DeploymentState.STOPPED,
    "DEPLOYMENT_STATE_STOPPED": DeploymentState.STOPPED,
}
ONE_REPLICA: Any = {"min_replicas": 1, "max_replicas": 1}


def _project(client: together.Together) -> str:
    if not client.project_id:
        raise ProviderPermanentError(
            PROVIDER,
            "a tuned model serves only on a dedicated endpoint, which needs a project id: set "
            "'project' on the Together credentials (or TUNEFORGE_TOGETHER_PROJECT_ID)",
        )
    return client.project_id


def _split(deployment_id: str) -> tuple[str, str]:
    endpoint, _, deployment = deployment_id.partition("/")
    if not endpoint or not deployment:
        raise ProviderPermanentError(PROVIDER, f"not a deployment id: {deployment_id!r}")
    return endpoint, deployment


def _deployment(endpoint: Any, deployment: Any) -> Deployment:
    status = getattr(deployment, "status", None)
    raw = str(getattr(status, "state", "") or "")
    return Deployment(
        id=f"{endpoint.id}/{deployment.id}",
        model_to_call=str(endpoint.name),
        state=STATES.get(raw, DeploymentState.PENDING),
        message=getattr(status, "message", None),
    )


def _endpoint_named(client: together.Together, project: str, name: str) -> Any:
    for endpoint in client.endpoints.list(project_id=project):
        if endpoint.name == name:
            return endpoint
    return None


def create(client: together.Together, model: str, name: str) -> Deployment:
    """Find-or-create by ``name``; the POSTs are never retried by the SDK (a retried POST could
    start a second paid deployment): the caller retries, and finds the first by its name."""
    project = _project(client)
    once = client.with_options(max_retries=0)
    with translated(PROVIDER, together):
        endpoint = _endpoint_named(client, project, name)
        if endpoint is None:
            endpoint = once.endpoints.create(project_id=project, name=name)
        existing = list(client.endpoints.deployments.list(endpoint.id, project_id=project))
        if existing:
            return _deployment(endpoint, existing[0])
        deployment = once.endpoints.deployments.create(
            endpoint.id, project_id=project, name=name, model=model, autoscaling=ONE_REPLICA
        )
    return _deployment(endpoint, deployment)


def get(client: together.Together, deployment_id: str) -> Deployment:
    project = _project(client)
    endpoint_id, dep_id = _split(deployment_id)
    with translated(PROVIDER, together):
        endpoint = client.endpoints.retrieve(endpoint_id, project_id=project)
        deployment = client.endpoints.deployments.retrieve(
            dep_id, endpoint_id=endpoint_id, project_id=project
        )
    return _deployment(endpoint, deployment)


def delete(client: together.Together, deployment_id: str) -> None:
    project = _project(client)
    endpoint_id, dep_id = _split(deployment_id)
    try:
        with translated(PROVIDER, together):
            client.endpoints.deployments.delete(dep_id, endpoint_id=endpoint_id, project_id=project)
    except ProviderError as exc:
        if exc.status_code != 404:
            raise
    try:
        with translated(PROVIDER, together):
            client.endpoints.delete(endpoint_id, project_id=project)
    except ProviderError as exc:
        if exc.status_code != 404:
            raise
