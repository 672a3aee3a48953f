"""A job created against the OpenAI emulator on loopback, with real commits: the world the
in-process launch and poll tests drive."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.session import session_scope
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.jobs.helpers import make_file


@dataclass(frozen=True)
class World:
    database: Database
    settings: Settings
    emulator: EmulatorHandle
    job_id: str


@pytest.fixture()
def world(settings: Settings, committed_db: Database) -> Iterator[World]:
    with running_emulator("openai", phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                "openai_base_url": emulator.sdk_base_url,
                "openai_api_key": SecretStr("sk-test"),
            }
        )
        with session_scope(committed_db.sessions) as session:
            tenant = make_tenant(session)
            file = make_file(session, configured, tenant)
            request = CreateJobRequest(model="gpt-4o-mini-2024-07-18", training_file=file.id)
            job_id = create_job(session, configured, tenant.id, request).id
        yield World(committed_db, configured, emulator, job_id)
