"""Fireworks on-demand deployments (the ``fireworks`` SDK's deployments API): a LoRA serves only
on one. The tuned model is deployed by live merge (``base_model`` is the LoRA model, as
``firectl create deployment <lora model>`` does), under the deployment id we choose (our stable
key: a create retried after a lost answer finds the first), and is called as
``<model>#accounts/<acct>/deployments/<id>``."""

from __future__ import annotations

from typing import Any

import fireworks

from providers.adapters._stainless import translated
from providers.base import Deployment, DeploymentState
from providers.errors import ProviderError

PROVIDER = "fireworks"
STATES = {
    "CREATING": DeploymentState.PENDING,
    "UPDATING": DeploymentState.PENDING,
    "STATE_UNSPECIFIED": DeploymentState.PENDING,
    "READY": DeploymentState.READY,
    "FAILED": DeploymentState.FAILED,
    "DELETING": DeploymentState.STOPPED,
    "DELETED": DeploymentState.STOPPED,
}


def _deployment(client: fireworks.Fireworks, deployment_id: str, raw: Any) -> Deployment:
    account = client.account_id
    state = str(getattr(raw, "state", None) or "STATE_UNSPECIFIED")
    model = str(raw.base_model)
    return Deployment(
        id=deployment_id,
        model_to_call=f"{model}#accounts/{account}/deployments/{deployment_id}",
        state=STATES.get(state, DeploymentState.PENDING),
        message=state,
    )


def create(client: fireworks.Fireworks, model: str, name: str) -> Deployment:
    """Under our deployment id; never retried by the SDK: a retry by the caller gets 409 and
    reads the first."""
    try:
        with translated(PROVIDER, fireworks):
            raw = client.with_options(max_retries=0).deployments.create(
                base_model=model, deployment_id=name, min_replica_count=1, max_replica_count=1
            )
    except ProviderError as exc:
        if exc.status_code != 409:
            raise
        return get(client, name)  # created already (a retried create)
    return _deployment(client, name, raw)


def get(client: fireworks.Fireworks, deployment_id: str) -> Deployment:
    with translated(PROVIDER, fireworks):
        raw = client.deployments.get(deployment_id)
    return _deployment(client, deployment_id, raw)


def delete(client: fireworks.Fireworks, deployment_id: str) -> None:
    try:
        with translated(PROVIDER, fireworks):
            client.deployments.delete(deployment_id)
    except ProviderError as exc:
        if exc.status_code != 404:
            raise
