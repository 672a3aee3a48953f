"""What the studies API does: create (checked and quoted before anything is spent), read,
list, cancel. Routes call one function here; the request boundary commits."""

from __future__ import annotations

from contextlib import suppress
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.db.models import Study
from service.db.types import utcnow
from service.errors import InvalidRequest, NotFound
from service.evals.runs.service import cancel_run
from service.jobs.api.service import cancel_job
from service.lifecycle import schedule
from service.paging import Page
from service.settings import Settings
from service.studies.job_event import attached_job_id
from service.studies.kind import STUDY
from service.studies.plan import plan_study
from service.studies.repository import StudyRepository
from service.studies.rows import new_study
from service.studies.schemas import CreateStudyRequest, StudyGates, StudyStatus
from service.studies.steps import PENDING
from service.studies.transitions import add_event, is_terminal, transition


def create_study(
    session: Session,
    settings: Settings,
    tenant_id: str,
    body: CreateStudyRequest,
    *,
    today: date | None = None,
) -> Study:
    now = utcnow()
    plan = plan_study(
        session, settings, tenant_id, body, today=today or now.date(), now=now, budget=body.budget
    )
    spec = body.model_dump(mode="json", exclude_none=True, by_alias=True)
    spec["baselines"] = [b.model_dump(mode="json") for b in plan.baselines]
    spec["gates"] = (body.gates or StudyGates()).model_dump(mode="json")
    spec["primary"] = plan.primary
    candidates = [
        {
            "model": c["request"]["model"],
            "provider": c["provider"],
            "label": c["label"],
            "as_on": c.get("as_on"),
            "request": c["request"],
            "status": PENDING,
        }
        for c in plan.candidates
    ]
    study = new_study(
        plan,
        tenant_id=tenant_id,
        name=body.name,
        status=StudyStatus.QUEUED,
        spec=spec,
        training_file_id=body.training_file,
        budget=body.budget,
        candidates=candidates,
        user_metadata=dict(body.metadata or {}),
        now=now,
    )
    StudyRepository(session).add(study)
    add_event(
        study,
        f"Created study {study.id}: {len(plan.candidates)} candidate(s), "
        f"{len(plan.baselines)} baseline(s), {plan.test_items} test item(s), quoted at "
        f"{plan.total} USD of a {body.budget} USD budget",
        now=now,
    )
    schedule.schedule(session, STUDY, study, now, now=now)
    return study


def get_study(session: Session, tenant_id: str, study_id: str) -> Study:
    study = StudyRepository(session).get_for_tenant(tenant_id, study_id)
    # a job's evaluation is read and cancelled through its job
    if study is None or attached_job_id(study) is not None:
        raise NotFound(f"No study found with id '{study_id}'.", param="study_id")
    return study


def list_studies(session: Session, tenant_id: str, *, after: str | None, limit: int) -> Page[Study]:
    """Newest first."""
    rows = StudyRepository(session).list_standalone(tenant_id, after=after, limit=limit + 1)
    return Page.of(rows, limit)


def cancel_study(session: Session, settings: Settings, tenant_id: str, study_id: str) -> Study:
    """Cancel the study, every candidate job and eval run still going; a finished study stays
    as is (cancelling a cancelled one is a no-op)."""
    study = get_study(session, tenant_id, study_id)
    if is_terminal(study):
        if study.status == StudyStatus.CANCELLED:
            return study
        raise InvalidRequest(
            f"Study {study.id} has already ended ({study.status}); it cannot be cancelled.",
            code="study_not_cancellable",
        )
    stop_study(session, settings, study, reason="Cancelled by the caller", now=utcnow())
    return study


def stop_study(
    session: Session,
    settings: Settings,
    study: Study,
    *,
    reason: str,
    now: datetime,
    error: dict[str, Any] | None = None,
) -> None:
    """Cancel an unfinished study's candidate jobs still going (an ended one is reported as it
    ended) and its eval runs, then the study itself."""
    tenant_id = study.tenant_id
    study.cancel_requested_at = now
    states = []
    for state in study.candidates:
        state = dict(state)
        if state.get("job_id"):
            try:
                job = cancel_job(session, settings, tenant_id, state["job_id"])
                state["status"] = job.status
            except InvalidRequest:
                pass  # already ended: reported as it ended
        elif state.get("status") == PENDING:
            state["status"] = "cancelled"
        states.append(state)
    study.candidates = states
    evaluation = study.evaluation or {}
    for run in evaluation.get("runs", []):
        if run.get("run_id"):
            with suppress(InvalidRequest):  # already ended
                cancel_run(session, settings, tenant_id, evaluation["eval_id"], run["run_id"])
    transition(study, StudyStatus.CANCELLED, reason=reason, error=error, now=now)
