"""``jobs.pause``/``resume``: an OpenAI job's pause and resume pass through to OpenAI as the
job's next steps on the engine (the task bodies run in-process against the OpenAI emulator on
a manual clock, with real commits); a provider without pause answers 400 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from emulators.clock import ManualClock
from emulators.testing import EmulatorHandle, running_emulator
from providers.base import JobStatus
from service.db.database import Database
from service.db.models import Job
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.api import pause as pause_api
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.jobs.lifecycle import pause as pause_steps
from service.jobs.lifecycle.adapters import adapter_for, operator_adapter
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.lifecycle.kind import PAUSE_TASK, POLL_TASK, RESUME_TASK, next_task
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file


@dataclass(frozen=True)
class Paced:
    database: Database
    settings: Settings
    emulator: EmulatorHandle
    clock: ManualClock
    tenant_id: str
    job_id: str

    def job(self) -> Job:
        with session_scope(self.database.sessions) as session:
            job = session.get(Job, self.job_id)
            assert job is not None
            return job

    def poll(self) -> None:
        with session_scope(self.database.sessions) as session:
            job = session.get(Job, self.job_id)
            assert job is not None
            job.next_poll_at = utcnow()  # due now
        poll_job(self.database.sessions, self.settings, self.job_id, adapter_for)

    def ask(self, verb: str) -> Job:
        with session_scope(self.database.sessions) as session:
            call = pause_api.pause_job if verb == "pause" else pause_api.resume_job
            return call(session, self.settings, self.tenant_id, self.job_id)


@pytest.fixture()
def paced(settings: Settings, committed_db: Database) -> Iterator[Paced]:
    clock = ManualClock()
    with running_emulator("openai", phase_seconds=1.0, clock=clock) as emulator:
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
            tenant_id = tenant.id
        world = Paced(committed_db, configured, emulator, clock, tenant_id, job_id)
        launch_job(committed_db.sessions, configured, job_id, adapter_for)
        clock.advance(2.5)  # running at OpenAI
        world.poll()
        assert world.job().status == JobStatus.RUNNING
        yield world


def test_an_openai_job_pauses_and_resumes_at_openai(paced: Paced) -> None:
    assert paced.ask("pause").status == JobStatus.PAUSING
    assert next_task(paced.job()) == PAUSE_TASK
    pause_steps.pause_job(paced.database.sessions, paced.settings, paced.job_id, adapter_for)
    job = paced.job()
    assert job.status == JobStatus.PAUSED and job.provider_status == "paused"
    [remote] = paced.emulator.jobs()
    assert remote["job"]["status"] == "paused"

    paced.clock.advance(100)  # paused at OpenAI: its clock stands still
    paced.poll()
    assert paced.job().status == JobStatus.PAUSED and next_task(paced.job()) == POLL_TASK

    assert paced.ask("resume").status == JobStatus.RUNNING
    assert next_task(paced.job()) == RESUME_TASK
    pause_steps.resume_job(paced.database.sessions, paced.settings, paced.job_id, adapter_for)
    assert paced.job().provider_status == "running" and next_task(paced.job()) == POLL_TASK
    paced.clock.advance(2.5)
    paced.poll()
    assert paced.job().status == JobStatus.SUCCEEDED


def test_a_snapshot_that_crosses_a_pending_pause_or_resume_does_not_undo_it(
    paced: Paced,
) -> None:
    """A sweep round or poll whose snapshot was taken before the pause (or resume) reached
    OpenAI must not move the job back: the pending step decides."""
    adapter = operator_adapter(paced.settings, "openai")

    def fold_snapshot() -> Job:
        found = adapter.get_job(paced.job().provider_job_id or "")
        with session_scope(paced.database.sessions) as session:
            job = session.get(Job, paced.job_id)
            assert job is not None
            apply_provider_job(session, paced.settings, job, found)
            return job

    paced.ask("pause")
    crossed = fold_snapshot()  # OpenAI still says running
    assert crossed.status == JobStatus.PAUSING and next_task(crossed) == PAUSE_TASK
    pause_steps.pause_job(paced.database.sessions, paced.settings, paced.job_id, adapter_for)
    assert paced.job().status == JobStatus.PAUSED
    paced.ask("resume")
    crossed = fold_snapshot()  # OpenAI still says paused
    assert crossed.status == JobStatus.RUNNING and next_task(crossed) == RESUME_TASK


def test_a_pause_openai_refuses_leaves_the_job_running_and_polling(paced: Paced) -> None:
    paced.emulator.advance(paced.job().provider_job_id or "")  # finished at OpenAI meanwhile
    paced.ask("pause")
    pause_steps.pause_job(paced.database.sessions, paced.settings, paced.job_id, adapter_for)
    job = paced.job()
    assert job.status == JobStatus.RUNNING and next_task(job) == POLL_TASK
    paced.poll()
    assert paced.job().status == JobStatus.SUCCEEDED


def test_only_a_running_job_pauses_and_only_a_paused_one_resumes(paced: Paced) -> None:
    with pytest.raises(Exception, match="only a paused job can be resumed"):
        paced.ask("resume")
    paced.ask("pause")
    assert paced.ask("pause").status == JobStatus.PAUSING  # asked twice: no-op


def test_a_provider_without_pause_is_a_400_naming_it(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    file = make_file(db_session, settings, tenant)
    job = Job(
        tenant_id=tenant.id,
        provider="together",
        model="together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        provider_job_id="ft-123",
        status=JobStatus.RUNNING,
        method={"type": "supervised"},
        training_file_id=file.id,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    db_session.add(job)
    db_session.commit()
    sdk = openai.OpenAI(
        base_url=f"{client.base_url}/v1", api_key=key, http_client=client, max_retries=0
    )
    for call in (sdk.fine_tuning.jobs.pause, sdk.fine_tuning.jobs.resume):
        with pytest.raises(openai.BadRequestError) as refused:
            call(job.id)
        error = refused.value.body
        assert isinstance(error, dict) and error["code"] == "pause_not_supported"
        assert error["message"].startswith("together fine-tuning jobs cannot be")
    with pytest.raises(openai.NotFoundError):
        sdk.fine_tuning.jobs.pause("ftjob-nope")
    assert client.post(f"/v1/fine_tuning/jobs/{job.id}/pause", headers=auth(key)).status_code == 400
