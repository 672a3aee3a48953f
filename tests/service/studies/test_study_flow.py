"""A study's steps on the lifecycle engine: its candidates launch through the normal job create
on the train split (the test split never leaves tuneforge), a refused candidate is reported and
not fatal, and once every candidate has ended the study stops at ``candidates_trained`` saying
then evaluation starts (here it cannot: no provider key, so the study fails saying why).
Cancel cancels the candidate jobs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from service.billing.budget import budget_status
from service.db.database import Database
from service.db.models import Job, Study, TenantBudget
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.api.service import cancel_job
from service.settings import Settings
from service.studies.schemas import CreateStudyRequest
from service.studies.service import cancel_study, create_study
from service.studies.steps import run_study_step
from tests.factories import make_tenant
from tests.service.jobs.helpers import chat_lines, jsonl, make_file
from tests.service.studies.test_studies_api import CRITERIA

LLAMA = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _study(db: Database, settings: Settings, candidates: list[dict[str, Any]]) -> str:
    with session_scope(db.sessions) as session:
        tenant = make_tenant(session)
        file = make_file(session, settings, tenant, jsonl(chat_lines(30)))
        body = CreateStudyRequest.model_validate(
            {
                "training_file": file.id,
                "holdout": 0.2,
                "candidates": candidates,
                "testing_criteria": CRITERIA,
                "budget": "50",
            }
        )
        return create_study(session, settings, tenant.id, body).id


def _load(db: Database, study_id: str) -> tuple[Study, list[Job]]:
    with session_scope(db.sessions) as session:
        study = session.get(Study, study_id)
        assert study is not None
        jobs = list(session.scalars(select(Job).where(Job.tenant_id == study.tenant_id)))
        session.expunge_all()
        return study, jobs


def test_candidates_launch_on_the_train_split_then_evaluation_starts(
    settings: Settings, committed_db: Database
) -> None:
    study_id = _study(
        committed_db, settings, [{"model": "gpt-4o-mini-2024-07-18"}, {"model": LLAMA}]
    )
    run_study_step(committed_db.sessions, settings, study_id)
    study, jobs = _load(committed_db, study_id)
    assert study.status == "training"
    assert len(jobs) == 2 and {j.training_file_id for j in jobs} == {study.train_file_id}
    assert all(j.training_file_id != study.test_file_id for j in jobs)
    assert {j.user_metadata["study"] for j in jobs} == {study_id}
    assert sorted(c["job_id"] for c in study.candidates) == sorted(j.id for j in jobs)

    run_study_step(committed_db.sessions, settings, study_id)  # jobs still running
    assert _load(committed_db, study_id)[0].status == "training"
    with session_scope(committed_db.sessions) as session:
        for job in jobs:
            cancel_job(session, settings, job.tenant_id, job.id)
    run_study_step(committed_db.sessions, settings, study_id)
    study, _ = _load(committed_db, study_id)
    assert [c["status"] for c in study.candidates] == ["cancelled", "cancelled"]
    assert study.status == "failed" and study.next_step_at is None
    assert study.evaluation is not None and study.error is not None
    assert all(r["role"] == "baseline" and r["error"] for r in study.evaluation["runs"])
    assert "No evaluation could start" in study.events[-1]["message"]
    run_study_step(committed_db.sessions, settings, study_id)  # terminal: nothing happens
    assert _load(committed_db, study_id)[0].status == "failed"


def test_a_candidate_refused_at_launch_is_reported_not_fatal(
    settings: Settings, committed_db: Database
) -> None:
    study_id = _study(committed_db, settings, [{"model": LLAMA}, {"model": LLAMA}])
    with session_scope(committed_db.sessions) as session:
        study = session.get(Study, study_id)
        assert study is not None
        states = [dict(c) for c in study.candidates]
        states[1]["request"] = {**states[1]["request"], "model": "together/gone"}
        study.candidates = states
    run_study_step(committed_db.sessions, settings, study_id)
    study, jobs = _load(committed_db, study_id)
    assert study.status == "training" and len(jobs) == 1
    assert [c["status"] for c in study.candidates][1] == "refused"
    assert any("refused at launch" in e["message"] for e in study.events)


def test_cancel_cancels_the_candidate_jobs(settings: Settings, committed_db: Database) -> None:
    study_id = _study(committed_db, settings, [{"model": LLAMA}])
    run_study_step(committed_db.sessions, settings, study_id)
    study, _ = _load(committed_db, study_id)
    with session_scope(committed_db.sessions) as session:
        cancel_study(session, settings, study.tenant_id, study_id)
        cancel_study(session, settings, study.tenant_id, study_id)  # twice: a no-op
    study, jobs = _load(committed_db, study_id)
    assert study.status == "cancelled" and [j.status for j in jobs] == ["cancelled"]
    assert study.candidates[0]["status"] == "cancelled"


def test_evaluation_never_starts_when_training_spent_the_budget(
    settings: Settings, committed_db: Database
) -> None:
    study_id = _study(committed_db, settings, [{"model": LLAMA}])
    run_study_step(committed_db.sessions, settings, study_id)
    with session_scope(committed_db.sessions) as session:
        study = session.get(Study, study_id)
        assert study is not None
        job = session.get(Job, study.candidates[0]["job_id"])
        assert job is not None
        cancel_job(session, settings, job.tenant_id, job.id)
        job.cost = Decimal("49.999999")  # a provider billed more than quoted
    run_study_step(committed_db.sessions, settings, study_id)
    study, _ = _load(committed_db, study_id)
    assert study.status == "failed" and study.evaluation is None
    assert study.error is not None and study.error["code"] == "budget_exceeded"
    assert "49.999999" in study.error["message"]


def test_a_study_that_fills_the_budget_launches_its_candidates_without_counting_them_twice(
    settings: Settings, committed_db: Database
) -> None:
    """The study's quote is committed from its create; at launch the jobs take over the
    training parts (their estimates), so a budget exactly the quote still launches them all
    and commits the same total (the evaluation's parts until its runs exist)."""
    study_id = _study(
        committed_db, settings, [{"model": "gpt-4o-mini-2024-07-18"}, {"model": LLAMA}]
    )
    with session_scope(committed_db.sessions) as session:
        study = session.get(Study, study_id)
        assert study is not None
        total = Decimal(study.quote["total"]["amount"])
        session.add(TenantBudget(tenant_id=study.tenant_id, monthly_limit=total))
    run_study_step(committed_db.sessions, settings, study_id)
    study, jobs = _load(committed_db, study_id)
    assert study.status == "training"
    assert [c["status"] for c in study.candidates] != ["refused", "refused"]
    assert all(c.get("job_id") for c in study.candidates) and len(jobs) == 2
    with session_scope(committed_db.sessions) as session:
        status = budget_status(session, study.tenant_id, utcnow())
        assert status is not None and status.committed == total
