"""A job created with ``evaluation``: the evaluation is a one-candidate study attached to the
job (``jobs.evaluation_study_id``), so the study machinery does the work — the frozen split
(the job trains on the train part only), the checks and the quote of every evaluation before
anything is spent, baselines and the tuned model on the same items, the paired comparison and
the verdict — and the job object shows what it found (``service.jobs.api.evaluation``).

The study is created already ``training`` with the job as its one candidate: it never launches
anything; it watches the job, evaluates once it succeeds (or records why not), and announces
``fine_tuning.job.evaluated`` instead of ``fine_tuning.study.completed``."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from service.db.models import Job, Study
from service.db.types import utcnow
from service.errors import InvalidRequest, TuneforgeError
from service.jobs.api import service as jobs
from service.jobs.api.schemas import CreateJobRequest, JobEvaluationSpec
from service.jobs.api.service import CreatedJob, create_job_with_warnings
from service.lifecycle import schedule
from service.settings import Settings
from service.studies.job_event import announce_evaluated
from service.studies.kind import STUDY
from service.studies.plan import StudyPlan, plan_study
from service.studies.repository import StudyRepository
from service.studies.rows import new_study
from service.studies.schemas import CreateStudyRequest, StudyCandidate, StudyGates, StudyStatus
from service.studies.service import stop_study
from service.studies.transitions import add_event, is_terminal

_JOB_PARAMS = ("training_file", "validation_file", "budget")
"""Plan errors about the job's own fields keep their name; the rest are ``evaluation.…``."""


def create_job(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: CreateJobRequest,
    *,
    today: date | None = None,
) -> CreatedJob:
    """The job create: with ``evaluation``, checked and quoted as a whole (training and every
    evaluation against the tenant's monthly budget) before the job exists."""
    spec = request.evaluation
    if spec is None:
        return create_job_with_warnings(session, settings, tenant_id, request, today=today)
    if spec.holdout is not None and spec.test_file is not None:
        raise InvalidRequest(
            "Give either evaluation.holdout or evaluation.test_file, not both.",
            param="evaluation.test_file",
        )
    now = utcnow()
    day = today or now.date()
    study_request = _as_study(request, spec)
    try:
        plan = plan_study(
            session,
            settings,
            tenant_id,
            study_request,
            today=day,
            now=now,
            budget=None,
            subject="job and its evaluation",
        )
    except TuneforgeError as exc:
        raise _renamed(exc) from None
    job_request = request.model_copy(
        update={"training_file": plan.train_file_id, "evaluation": None}
    )
    created = create_job_with_warnings(session, settings, tenant_id, job_request, today=day)
    job = created.job
    study = _attach(session, settings, tenant_id, request, plan, job.id, job.status)
    job.evaluation_study_id = study.id
    return created


def cancel_job(session: Session, settings: Settings, tenant_id: str | None, job_id: str) -> Job:
    """OpenAI's cancel (``tenant_id=None``: an admin), and ours for an evaluation in progress:
    on a job that has succeeded while its evaluation is pending or running, the evaluation is
    cancelled (its eval runs too) and the job is returned still ``succeeded``, its
    ``evaluation.status`` ``cancelled``; ``fine_tuning.job.evaluated`` says so. Anything else is
    the job's own cancel (a succeeded job without an evaluation in progress is refused, as
    OpenAI does)."""
    job = jobs.cancel_target(session, tenant_id, job_id)
    study = (
        session.get(Study, job.evaluation_study_id, with_for_update=True, populate_existing=True)
        if job.status == "succeeded" and job.evaluation_study_id
        else None
    )
    if study is None or is_terminal(study):
        return jobs.cancel_job(session, settings, tenant_id, job_id)
    now = utcnow()
    message = "The evaluation was cancelled by the caller; the job stays succeeded."
    stop_study(
        session,
        settings,
        study,
        reason=message,
        error={"code": "evaluation_cancelled", "message": message},
        now=now,
    )
    announce_evaluated(session, study, now)
    return job


def _as_study(request: CreateJobRequest, spec: JobEvaluationSpec) -> CreateStudyRequest:
    """The job's evaluation as a study spec (its parts are validated already)."""
    candidate = StudyCandidate(
        model=request.model,
        provider=request.provider,
        hyperparameters=request.hyperparameters,
        method=request.method,
        provider_options=request.provider_options,
        suffix=request.suffix,
    )
    return CreateStudyRequest.model_construct(
        name=None,
        training_file=request.training_file,
        validation_file=request.validation_file,
        holdout=spec.holdout,
        test_file=spec.test_file,
        candidates=[candidate],
        baselines=spec.baselines,
        testing_criteria=spec.testing_criteria,
        primary=spec.primary,
        gates=None,
        budget=Decimal(0),  # not read: plan_study is given the cap (none: the tenant's budget)
        volume=0,
        horizon_months=6,
        metadata=None,
    )


def _renamed(exc: TuneforgeError) -> TuneforgeError:
    """A study plan's error in the job create's terms: ``candidates[0].model`` is the job's
    ``model``; ``holdout``, ``baselines[1].few_shot``… are ``evaluation.…``."""
    param = exc.param
    prefix = "candidates[0]"
    if param is not None and param.startswith(prefix):
        param = param[len(prefix) :].lstrip(".") or None
        if exc.message.startswith(prefix + ": "):
            exc.message = exc.message[len(prefix) + 2 :]
    elif param is not None and not param.startswith(_JOB_PARAMS):
        param = f"evaluation.{param}"
        for name in ("baselines", "primary", "holdout", "test_file", "testing_criteria"):
            if exc.message.startswith(name):
                exc.message = f"evaluation.{exc.message}"
                break
    exc.param = param
    return exc


def _attach(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: CreateJobRequest,
    plan: StudyPlan,
    job_id: str,
    job_status: str,
) -> Study:
    now = utcnow()
    candidate = plan.candidates[0]
    spec = {
        "job_id": job_id,
        "testing_criteria": plan.criteria,
        "baselines": [b.model_dump(mode="json") for b in plan.baselines],
        "primary": plan.primary,
        "gates": StudyGates().model_dump(mode="json"),
        "budget": None,
        "volume": 0,
        "horizon_months": 6,
    }
    tuned = {
        "model": request.model,
        "provider": candidate["provider"],
        "request": candidate["request"],
        "status": job_status,
        "job_id": job_id,
    }
    study = new_study(
        plan,
        tenant_id=tenant_id,
        name=f"evaluation of {job_id}",
        status=StudyStatus.TRAINING,
        spec=spec,
        training_file_id=request.training_file,
        budget=None,
        candidates=[tuned],
        user_metadata={},
        now=now,
    )
    StudyRepository(session).add(study)
    add_event(
        study,
        f"Attached to job {job_id}: {len(plan.baselines)} baseline(s) and the tuned model on "
        f"{plan.test_items} test item(s), quoted at {plan.total} USD in all",
        now=now,
    )
    schedule.schedule(
        session, STUDY, study, now + timedelta(seconds=settings.study_check_s), now=now
    )
    return study
