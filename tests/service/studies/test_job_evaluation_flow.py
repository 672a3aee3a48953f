"""A job's attached evaluation on the OpenAI emulator, driven in-process with real commits: the
job trains on the train part, the tuned model and the baselines are evaluated on the held-out
items, the job object carries the results and the verdict and ``fine_tuning.job.evaluated`` is
queued; a job that does not succeed is not evaluated, and an evaluation that cannot run leaves
the job succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.models import CostLedgerEntry, EvalRun, Job, TenantBudget, WebhookDelivery
from service.db.session import session_scope
from service.errors import InvalidRequest
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.step import RunItemsStep
from service.jobs.api.objects import FineTuningJob
from service.jobs.api.schemas import CreateJobRequest, job_object
from service.jobs.api.service import cancel_job
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.lifecycle.runner import run_step
from service.settings import Settings
from service.studies.attached import cancel_job as cancel_with_evaluation
from service.studies.attached import create_job
from service.studies.steps import run_study_step
from service.webhooks.endpoints import create_endpoint
from tests.factories import make_tenant
from tests.service.jobs.helpers import jsonl, make_file
from tests.service.studies.test_study_evaluation import CRITERIA, MINI, labelled

EVALUATED = "fine_tuning.job.evaluated"
ENDPOINT_URL = "http://127.0.0.1:9/hook"
JOB_URL = "http://127.0.0.1:9/job-hook"


@dataclass
class World:
    settings: Settings
    database: Database
    emulator: EmulatorHandle

    def job(self, rows: list[dict[str, Any]], *, webhook_url: str | None = None) -> str:
        with session_scope(self.database.sessions) as session:
            tenant = make_tenant(session)
            create_endpoint(
                session,
                tenant.id,
                url=ENDPOINT_URL,
                settings=self.settings,
                events=[EVALUATED],
            )
            content = jsonl(rows)
            file = make_file(session, self.settings, tenant, content)
            request = CreateJobRequest.model_validate(
                {
                    "model": MINI,
                    "training_file": file.id,
                    "evaluation": {"testing_criteria": CRITERIA, "holdout": 0.25},
                    "webhook_url": webhook_url,
                }
            )
            return create_job(session, self.settings, tenant.id, request).job.id

    def study_id(self, job_id: str) -> str:
        return str(self.load(job_id)["evaluation_study_id"])

    def train(self, job_id: str) -> None:
        launch_job(self.database.sessions, self.settings, job_id, adapter_for)
        for _ in range(20):
            with session_scope(self.database.sessions) as session:
                job = session.get(Job, job_id)
                assert job is not None
                if job.status in ("succeeded", "failed", "cancelled"):
                    return
                assert job.provider_job_id is not None
                self.emulator.advance(job.provider_job_id)
                job.next_poll_at = None
            poll_job(self.database.sessions, self.settings, job_id, adapter_for)

    def step(self, job_id: str) -> None:
        run_study_step(self.database.sessions, self.settings, self.study_id(job_id))

    def evaluate(self, job_id: str) -> None:
        for run in self.load(job_id)["object"]["evaluation"]["runs"]:
            run_step(
                EVAL_RUN,
                RunItemsStep(adapter_for),
                self.database.sessions,
                self.settings,
                run["run_id"],
            )

    def load(self, job_id: str) -> dict[str, Any]:
        with session_scope(self.database.sessions) as session:
            job = session.get(Job, job_id)
            assert job is not None
            return {
                "object": job_object(job),
                "evaluation_study_id": job.evaluation_study_id,
                "tenant_id": job.tenant_id,
            }

    def sent(self, tenant_id: str) -> list[WebhookDelivery]:
        with session_scope(self.database.sessions) as session:
            rows = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id)
            ).all()
            session.expunge_all()
            return list(rows)


@pytest.fixture()
def world(settings: Settings, committed_db: Database) -> Iterator[World]:
    with running_emulator("openai", phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                "openai_base_url": emulator.sdk_base_url,
                "openai_api_key": SecretStr("sk-test"),
            }
        )
        yield World(configured, committed_db, emulator)


def test_a_succeeded_job_is_evaluated_against_its_baselines_and_announced(world: World) -> None:
    job_id = world.job(labelled(32), webhook_url=JOB_URL)
    world.step(job_id)
    assert world.load(job_id)["object"]["evaluation"]["status"] == "pending"
    world.train(job_id)
    world.step(job_id)
    evaluating = world.load(job_id)["object"]
    assert evaluating["status"] == "succeeded"
    assert evaluating["evaluation"]["status"] == "running"
    runs = evaluating["evaluation"]["runs"]
    assert [(r["role"], r["model"]) for r in runs] == [
        ("baseline", MINI),
        ("baseline", MINI),
        ("candidate", evaluating["fine_tuned_model"]),
    ]
    world.evaluate(job_id)
    world.step(job_id)
    loaded = world.load(job_id)
    job = loaded["object"]
    FineTuningJob.model_validate(job)
    evaluation = job["evaluation"]
    assert job["status"] == "succeeded" and evaluation["status"] == "completed"
    assert evaluation["eval_id"].startswith("eval_")
    results = {r["label"]: r for r in evaluation["results"]}
    tuned = results[f"{MINI} (candidates[0])"]
    assert tuned["primary"]["value"] == 1.0
    assert results[f"{MINI} (0-shot)"]["primary"]["value"] == 0.0
    assert set(tuned["criteria"]) == {"exact", "format"}
    comparison = evaluation["comparison"]
    assert (
        comparison["value"] > 0 and comparison["ci_low"] > 0 and comparison["verdict"] == "better"
    )
    assert evaluation["verdict"]["outcome"] == "winner"
    assert evaluation["verdict"]["winner"]["job_id"] == job_id
    with session_scope(world.database.sessions) as session:
        booked = session.scalars(
            select(CostLedgerEntry.kind).where(CostLedgerEntry.tenant_id == loaded["tenant_id"])
        ).all()
    assert sorted(set(booked)) == ["evaluation", "training"]
    sent = world.sent(loaded["tenant_id"])
    # the job's own URL hears its end and its evaluation's; the endpoint only what it chose
    assert sorted((d.event_type, d.url, d.endpoint_id is None) for d in sent) == [
        (EVALUATED, ENDPOINT_URL, False),
        (EVALUATED, JOB_URL, True),
        ("fine_tuning.job.succeeded", JOB_URL, True),
    ]
    evaluated = [d for d in sent if d.event_type == EVALUATED]
    assert evaluated[0].payload == evaluated[1].payload  # one event, two targets
    assert all(d.job_id == job_id for d in evaluated)
    data = evaluated[0].payload["data"]
    assert evaluated[0].payload["type"] == EVALUATED
    assert data["id"] == job_id and data["fine_tuned_model"] == job["fine_tuned_model"]
    assert data["evaluation"]["verdict"]["outcome"] == "winner"
    assert data["evaluation"]["comparison"] == comparison
    # the study's own step is done: another one changes nothing and announces nothing again
    world.step(job_id)
    assert len(world.sent(loaded["tenant_id"])) == 3


def test_a_cancelled_job_is_not_evaluated_and_says_why(world: World) -> None:
    job_id = world.job(labelled(16))
    with session_scope(world.database.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        cancel_job(session, world.settings, job.tenant_id, job_id)
    world.step(job_id)
    loaded = world.load(job_id)
    evaluation = loaded["object"]["evaluation"]
    assert loaded["object"]["status"] == "cancelled"
    assert evaluation["status"] == "skipped" and evaluation["runs"] == []
    assert evaluation["error"]["code"] == "job_cancelled"
    assert "no tuned model" in evaluation["error"]["message"]
    with session_scope(world.database.sessions) as session:
        assert session.scalars(select(EvalRun.id)).all() == []
    assert world.sent(loaded["tenant_id"]) == []


def test_an_evaluation_that_cannot_run_leaves_the_job_succeeded(world: World) -> None:
    """The tenant's budget runs out while the job trains: no eval run can start, the
    evaluation fails saying why, the job stays succeeded and the failure is announced."""
    job_id = world.job(labelled(16))
    world.train(job_id)
    with session_scope(world.database.sessions) as session:
        tenant_id = world.load(job_id)["tenant_id"]
        session.add(TenantBudget(tenant_id=tenant_id, monthly_limit=Decimal("0.000001")))
    world.step(job_id)
    job = world.load(job_id)["object"]
    assert job["status"] == "succeeded" and job["error"] is None
    evaluation = job["evaluation"]
    assert evaluation["status"] == "failed"
    assert evaluation["error"]["code"] == "evaluation_not_started"
    assert "budget" in evaluation["error"]["message"]
    assert all(r["run_id"] is None and r["error"] for r in evaluation["runs"])
    sent = world.sent(tenant_id)
    assert [d.event_type for d in sent] == [EVALUATED]
    assert sent[0].payload["data"]["evaluation"]["status"] == "failed"


def test_cancel_on_a_succeeded_job_cancels_its_evaluation_in_progress(world: World) -> None:
    """OpenAI refuses to cancel a succeeded job; ours cancels the evaluation still running
    (its eval runs too), the job stays succeeded, and the result webhook says cancelled. Once
    nothing is left in progress, cancel is refused as OpenAI's is."""
    job_id = world.job(labelled(16), webhook_url=JOB_URL)
    world.train(job_id)
    world.step(job_id)
    assert world.load(job_id)["object"]["evaluation"]["status"] == "running"
    with session_scope(world.database.sessions) as session:
        tenant_id = world.load(job_id)["tenant_id"]
        cancelled = job_object(cancel_with_evaluation(session, world.settings, tenant_id, job_id))
    FineTuningJob.model_validate(cancelled)
    assert cancelled["status"] == "succeeded"
    evaluation = cancelled["evaluation"]
    assert evaluation["status"] == "cancelled"
    assert evaluation["error"]["code"] == "evaluation_cancelled"
    with session_scope(world.database.sessions) as session:
        statuses = session.scalars(select(EvalRun.status)).all()
    assert statuses and set(statuses) == {"canceled"}
    world.evaluate(job_id)  # a run step after the cancel samples nothing
    world.step(job_id)
    assert world.load(job_id)["object"]["evaluation"]["status"] == "cancelled"
    evaluated = [d for d in world.sent(tenant_id) if d.event_type == EVALUATED]
    assert sorted(d.url for d in evaluated) == [ENDPOINT_URL, JOB_URL]
    assert {d.payload["data"]["evaluation"]["status"] for d in evaluated} == {"cancelled"}
    with (
        session_scope(world.database.sessions) as session,
        pytest.raises(InvalidRequest) as refused,
    ):
        cancel_with_evaluation(session, world.settings, tenant_id, job_id)
    assert refused.value.code == "job_not_cancellable"
