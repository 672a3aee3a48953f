"""Dedicated deployments through the together SDK's v2 endpoints API, on the emulator: a create
is found again by its name (a retried create starts no second one), a deployment is pending
until ready, its endpoint's name answers as the tuned model, and a delete stops it (twice is
no error) and bills ready → stopped."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import ChatRequest, DeploymentState, ProviderConfig
from providers.errors import ProviderPermanentError, ProviderRetryableError
from providers.registry import get_adapter


@pytest.fixture()
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("together", phase_seconds=0.05) as handle:
        httpx.post(
            f"{handle.base_url}/_emulator/deployments/delay", json={"seconds": 3600}
        ).raise_for_status()
        yield handle


def test_create_get_delete_a_deployment(emulator: EmulatorHandle) -> None:
    config = ProviderConfig(api_key="k", base_url=emulator.sdk_base_url, project="proj")
    adapter = get_adapter("together", config)
    created = adapter.create_deployment("some-org/tuned-model", "tuneforge-run-1")
    assert created.state is DeploymentState.PENDING
    assert created.model_to_call == "tuneforge-run-1"
    again = adapter.create_deployment("some-org/tuned-model", "tuneforge-run-1")
    assert again.id == created.id  # found by its name, not a second one

    ask = ChatRequest(model=created.model_to_call, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(ProviderRetryableError):  # 503 while provisioning
        get_adapter(
            "together",
            ProviderConfig(
                api_key="k", base_url=emulator.sdk_base_url, project="proj", max_retries=0
            ),
        ).chat_completion(ask)
    httpx.post(f"{emulator.base_url}/_emulator/deployments/ready").raise_for_status()
    assert adapter.get_deployment(created.id).state is DeploymentState.READY
    assert adapter.chat_completion(ask).text

    adapter.delete_deployment(created.id)
    adapter.delete_deployment(created.id)  # already gone: no error
    listed = httpx.get(f"{emulator.base_url}/_emulator/deployments").json()["data"]
    assert [(d["id"], d["state"]) for d in listed] == [(created.id, "stopped")]
    assert listed[0]["billed_seconds"] >= 0


def test_a_deployment_needs_a_project(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOGETHER_PROJECT_ID", raising=False)
    adapter = get_adapter("together", ProviderConfig(api_key="k", base_url=emulator.sdk_base_url))
    with pytest.raises(ProviderPermanentError) as refused:
        adapter.create_deployment("some-org/tuned-model", "tuneforge-run-2")
    assert "project" in refused.value.message


def test_a_fireworks_lora_is_deployed_and_called_as_model_hash_deployment() -> None:
    with running_emulator("fireworks", phase_seconds=0.05) as emulator:
        httpx.post(
            f"{emulator.base_url}/_emulator/deployments/delay", json={"seconds": 3600}
        ).raise_for_status()
        config = ProviderConfig(
            api_key="k", base_url=emulator.sdk_base_url, account_id="acct", max_retries=0
        )
        adapter = get_adapter("fireworks", config)
        model = "accounts/acct/models/tuned-1"
        created = adapter.create_deployment(model, "tuneforge-run-3")
        assert created.state is DeploymentState.PENDING
        assert created.model_to_call == f"{model}#accounts/acct/deployments/tuneforge-run-3"
        assert adapter.create_deployment(model, "tuneforge-run-3").id == created.id  # by id
        ask = ChatRequest(model=created.model_to_call, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(ProviderRetryableError):  # 503 while it is being created
            adapter.chat_completion(ask)
        httpx.post(f"{emulator.base_url}/_emulator/deployments/ready").raise_for_status()
        assert adapter.get_deployment(created.id).state is DeploymentState.READY
        assert adapter.chat_completion(ask).model == created.model_to_call
        adapter.delete_deployment(created.id)
        adapter.delete_deployment(created.id)  # already gone: no error
        assert adapter.get_deployment(created.id).state is DeploymentState.STOPPED
        listed = httpx.get(f"{emulator.base_url}/_emulator/deployments").json()["data"]
        assert [d["state"] for d in listed] == ["stopped"]


def test_the_sdk_never_retries_a_deployment_create(emulator: EmulatorHandle) -> None:
    """A create whose answer is lost is not re-sent by the SDK (a second paid deployment): the
    caller's retry finds the first by its name."""
    adapter = get_adapter(
        "together",
        ProviderConfig(api_key="k", base_url=emulator.sdk_base_url, project="proj", max_retries=2),
    )
    emulator.inject(kind="drop_after", method="POST", path="/deployments$", count=1)
    with pytest.raises(ProviderRetryableError):
        adapter.create_deployment("some-org/tuned-model", "tuneforge-run-4")
    found = adapter.create_deployment("some-org/tuned-model", "tuneforge-run-4")
    listed = httpx.get(f"{emulator.base_url}/_emulator/deployments").json()["data"]
    assert [d["id"] for d in listed] == [found.id]
