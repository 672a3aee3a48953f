"""A Together job trains on from one of the tenant's own Together jobs or checkpoints
(``provider_options.from_checkpoint`` = our ``ftjob-…``/``ftckpt-…`` id): Together receives
its own reference for it (``<job id>[:<step>]``, no ``model``), through the SDK against the
emulator. Another tenant's id, a raw Together id or another provider's job is a 400 naming
the option, and nothing is created."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.models import Checkpoint, Job, Tenant
from service.db.session import session_scope
from service.errors import InvalidRequest
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.jobs.provider_parent import PARAM
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.jobs.helpers import make_file
from tests.service.webhooks.helpers import make_job

MODEL = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@dataclass(frozen=True)
class TogetherWorld:
    database: Database
    settings: Settings
    emulator: EmulatorHandle
    tenant_id: str
    parent_id: str  # a succeeded Together job of the tenant, with checkpoints


def _create(world: TogetherWorld, tenant_id: str, **fields: Any) -> str:
    with session_scope(world.database.sessions) as session:
        tenant = session.get_one(Tenant, tenant_id)
        file = make_file(session, world.settings, tenant, provider="together")
        request = CreateJobRequest(model=MODEL, training_file=file.id, **fields)
        return create_job(session, world.settings, tenant_id, request).id


def _job(world: TogetherWorld, job_id: str) -> Job:
    with session_scope(world.database.sessions) as session:
        return session.get_one(Job, job_id)


@pytest.fixture()
def together(settings: Settings, committed_db: Database) -> Iterator[TogetherWorld]:
    with running_emulator("together", phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                "together_base_url": emulator.sdk_base_url,
                "together_api_key": SecretStr("tg-test"),
            }
        )
        with session_scope(committed_db.sessions) as session:
            tenant_id = make_tenant(session).id
        world = TogetherWorld(committed_db, configured, emulator, tenant_id, "")
        parent_id = _create(world, tenant_id)
        launch_job(committed_db.sessions, configured, parent_id, adapter_for)
        provider_job_id = _job(world, parent_id).provider_job_id
        assert provider_job_id is not None
        emulator.advance(provider_job_id)
        with session_scope(committed_db.sessions) as session:
            session.get_one(Job, parent_id).next_poll_at = None  # due now
        poll_job(committed_db.sessions, configured, parent_id, adapter_for)
        assert _job(world, parent_id).status == "succeeded"
        yield TogetherWorld(committed_db, configured, emulator, tenant_id, parent_id)


def _received(world: TogetherWorld, job_id: str) -> dict[str, Any]:
    provider_job_id = _job(world, job_id).provider_job_id
    found = [j["body"] for j in world.emulator.jobs() if j["id"] == provider_job_id]
    assert len(found) == 1, _job(world, job_id).error
    body: dict[str, Any] = found[0]
    return body


def test_a_together_job_trains_on_from_the_tenants_own_job_or_checkpoint(
    together: TogetherWorld,
) -> None:
    parent = _job(together, together.parent_id)
    with session_scope(together.database.sessions) as session:
        checkpoint = session.scalars(
            select(Checkpoint).where(Checkpoint.job_id == parent.id).order_by(Checkpoint.step)
        ).first()
        assert checkpoint is not None
        checkpoint_id, step = checkpoint.id, checkpoint.step

    from_job = _create(
        together, together.tenant_id, provider_options={"from_checkpoint": parent.id}
    )
    from_step = _create(
        together, together.tenant_id, provider_options={"from_checkpoint": checkpoint_id}
    )
    for child in (from_job, from_step):
        launch_job(together.database.sessions, together.settings, child, adapter_for)

    body = _received(together, from_job)
    assert body["from_checkpoint"] == parent.provider_job_id
    assert "model" not in body  # Together takes model XOR from_checkpoint
    assert _received(together, from_step)["from_checkpoint"] == f"{parent.provider_job_id}:{step}"
    launched = _job(together, from_job)
    # The job keeps our id, as the caller gave it.
    assert launched.provider_options == {"from_checkpoint": parent.id}
    assert launched.status in ("queued", "running")


def test_another_tenants_job_a_raw_provider_id_or_another_providers_job_is_a_400(
    together: TogetherWorld,
) -> None:
    parent = _job(together, together.parent_id)
    with session_scope(together.database.sessions) as session:
        stranger = make_tenant(session).id
        openai_job_id = make_job(
            session, session.get_one(Tenant, together.tenant_id), status="succeeded"
        ).id
    cases = [
        (stranger, parent.id, "is not a fine-tuning job of yours"),
        (together.tenant_id, str(parent.provider_job_id), "is not a fine-tuning job of yours"),
        (together.tenant_id, "ftckpt-nope", "is not a checkpoint of yours"),
        (together.tenant_id, openai_job_id, "was trained on gpt-4o-mini"),
    ]
    jobs_before = together.emulator.job_count()
    for tenant_id, reference, why in cases:
        with pytest.raises(InvalidRequest, match=why) as raised:
            _create(together, tenant_id, provider_options={"from_checkpoint": reference})
        assert raised.value.param == PARAM
    with pytest.raises(InvalidRequest) as raised:
        _create(together, together.tenant_id, provider_options={"from_checkpoint": 7})
    assert raised.value.param == PARAM
    assert together.emulator.job_count() == jobs_before
