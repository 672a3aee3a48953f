"""A study's step (``tuneforge.study_step``), run by the engine's runner: launch every
candidate through the normal job create (train split only: the test split never leaves
tuneforge), then watch the candidate jobs until each has ended. A refused or failed candidate
is reported on the study, never fatal.

Once every candidate has ended, ``evaluate`` starts one eval run per baseline and per trained
candidate on the frozen test items, and when they have all ended writes the leaderboard and the
verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.db.models import Job, Study
from service.db.types import utcnow
from service.errors import TuneforgeError
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.jobs.transitions import is_terminal as job_is_terminal
from service.lifecycle import schedule
from service.lifecycle.kind import StepContext, StepRetry
from service.lifecycle.runner import run_step
from service.settings import Settings
from service.studies.evaluate import start_evaluation, watch_evaluation
from service.studies.job_event import attached_job_id
from service.studies.kind import STEP_TASK, STUDY
from service.studies.schemas import StudyStatus
from service.studies.transitions import add_event, is_terminal, transition

PENDING = "pending"
REFUSED = "refused"


def run_study_step(sessions: sessionmaker[Session], settings: Settings, study_id: str) -> None:
    run_step(STUDY, StudyStep(), sessions, settings, study_id)


@dataclass(frozen=True)
class StudyStep:
    task: str = STEP_TASK
    heartbeat: bool = False

    def wanted(self, study: Study) -> bool:
        return not is_terminal(study)

    def begin(self, ctx: StepContext, session: Session, study: Study) -> str | None:
        return study.id

    def act(self, ctx: StepContext, plan: str) -> None:
        return None  # nothing outside our database: the work is done in ``finish``

    def finish(self, ctx: StepContext, session: Session, study: Study, result: None) -> None:
        advance(session, ctx.settings, study, utcnow())

    def on_retry(self, ctx: StepContext, session: Session, study: Study, retry: StepRetry) -> int:
        study.step_failures += 1
        return study.step_failures


def advance(session: Session, settings: Settings, study: Study, now: datetime) -> None:
    """Move the (locked) study on by one step and schedule the next."""
    if study.status == StudyStatus.QUEUED:
        launch_candidates(session, settings, study, now)
    elif study.status == StudyStatus.TRAINING:
        watch_candidates(session, settings, study, now)
    elif study.status == StudyStatus.EVALUATING:
        watch_evaluation(session, settings, study, now)
    if not is_terminal(study):
        due = now + timedelta(seconds=settings.study_check_s)
        schedule.schedule(session, STUDY, study, due, now=now)


def launch_candidates(session: Session, settings: Settings, study: Study, now: datetime) -> None:
    states: list[dict[str, Any]] = []
    for index, state in enumerate(study.candidates):
        state = dict(state)
        if state.get("status") == PENDING:
            state.update(_launch(session, settings, study, index, state, now))
        states.append(state)
    study.candidates = states
    launched = sum(1 for s in states if s.get("job_id"))
    transition(
        study,
        StudyStatus.TRAINING,
        reason=f"Launched {launched} of {len(states)} candidate job(s) on the train split",
        now=now,
    )


def _launch(
    session: Session,
    settings: Settings,
    study: Study,
    index: int,
    state: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    request = CreateJobRequest.model_validate(
        {**state["request"], "metadata": {"study": study.id, "candidate": str(index)}}
    )
    try:
        with session.begin_nested():
            job = create_job(
                session,
                settings,
                study.tenant_id,
                request,
                today=now.date(),
                quoted_by_study=study.id,
            )
    except TuneforgeError as exc:
        add_event(
            study,
            f"candidates[{index}] ({request.model}) was refused at launch: {exc.message}",
            level="warn",
            data={"code": exc.code, "param": exc.param},
            now=now,
        )
        return {"status": REFUSED, "error": {"code": exc.code, "message": exc.message}}
    return {"status": job.status, "job_id": job.id}


def watch_candidates(session: Session, settings: Settings, study: Study, now: datetime) -> None:
    states: list[dict[str, Any]] = []
    for state in study.candidates:
        state = dict(state)
        job = session.get(Job, state["job_id"]) if state.get("job_id") else None
        if job is not None and job.status != state.get("status"):
            state.update(
                status=job.status,
                fine_tuned_model=job.fine_tuned_model,
                cost=None if job.cost is None else format(job.cost, "f"),
            )
            if job_is_terminal(job.status):
                add_event(study, f"Candidate {job.model} ({job.id}) {job.status}", now=now)
        states.append(state)
    study.candidates = states
    if not all(
        s.get("status") in (REFUSED, "cancelled") or job_is_terminal(str(s.get("status")))
        for s in states
    ):
        return
    if attached_job_id(study) is not None and states[0].get("status") != "succeeded":
        _skip_evaluation(study, str(states[0].get("status")), now)
        return
    start_evaluation(session, settings, study, now)


def _skip_evaluation(study: Study, job_status: str, now: datetime) -> None:
    """A job's attached evaluation when the job ended without a tuned model: nothing to
    evaluate, and the job's evaluation field says why."""
    message = f"The job {job_status}: there is no tuned model to evaluate, so nothing was."
    transition(
        study,
        StudyStatus.CANCELLED if job_status == "cancelled" else StudyStatus.FAILED,
        reason=message,
        error={"code": f"job_{job_status}", "message": message},
        level="warn",
        now=now,
    )
