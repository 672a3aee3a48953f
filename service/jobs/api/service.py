"""What the jobs API does: create (checked before anything is queued), read, list, cancel.
Routes call one function here; the request boundary commits."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from service.billing.lifecycle import LifecycleWarning, lifecycle_warnings
from service.credentials.service import has_own_credentials, require_credentials
from service.db.models import Checkpoint, Job, JobEvent
from service.db.types import utcnow
from service.encryption.keyring import keyring_for
from service.errors import InvalidRequest, NotFound
from service.jobs import costs
from service.jobs.api.filecheck import check_file_format, checked_report, validation_summary
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.targets import Target, resolve_target
from service.jobs.lifecycle import steps
from service.jobs.local_parent import parent_adapter
from service.jobs.provider_parent import provider_checkpoint
from service.jobs.repository import JobRepository
from service.jobs.transitions import (
    CANCELLED,
    QUEUED,
    VALIDATING_FILES,
    is_terminal,
    transition,
)
from service.lifecycle.progress import EventRecord, ProgressWriter
from service.settings import Settings
from service.tenants.quotas import check_active_jobs
from service.webhooks.endpoints import tenant_secret, validate_webhook_url

T = TypeVar("T")


@dataclass(frozen=True)
class CreatedJob:
    job: Job
    warnings: list[LifecycleWarning]
    """Lifecycle notices for the create's response (each also a ``warn`` job event)."""


def _job_webhook_url(url: str, settings: Settings) -> str:
    try:
        return validate_webhook_url(url, settings)
    except InvalidRequest as exc:  # it names "url", an endpoint's field
        raise InvalidRequest(exc.message, param="webhook_url", code=exc.code) from None


def create_job(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: CreateJobRequest,
    *,
    today: date | None = None,
    quoted_by_study: str | None = None,
) -> Job:
    return create_job_with_warnings(
        session, settings, tenant_id, request, today=today, quoted_by_study=quoted_by_study
    ).job


@dataclass(frozen=True)
class CheckedRequest:
    target: Target
    training: dict[str, Any]
    validation: dict[str, Any] | None


def checked_request(
    session: Session, settings: Settings, tenant_id: str, request: CreateJobRequest, day: date
) -> CheckedRequest:
    """What a job create checks of its request before pricing it (a study's candidates go
    through it too): the method body, the model and provider options, both files against the
    target and the method, and a ``from_checkpoint`` parent; a 400 naming the field."""
    unused = request.method.unused_body() if request.method is not None else None
    if unused is not None:
        raise InvalidRequest(
            f"method.{unused} is given but method.type is '{request.method_type()}'; "
            f"send the hyperparameters under method.{request.method_type()}.",
            param=f"method.{unused}",
        )
    target = resolve_target(
        request,
        settings,
        day,
        own_vertex_account=lambda: has_own_credentials(session, tenant_id, "vertex"),
    )
    repository = JobRepository(session)
    training = checked_report(
        repository, settings, tenant_id, request.training_file, "training_file", target
    )
    validation = (
        checked_report(
            repository, settings, tenant_id, request.validation_file, "validation_file", target
        )
        if request.validation_file
        else None
    )
    for param, report in (("training_file", training), ("validation_file", validation)):
        if report is not None:
            check_file_format(target, request.method_type(), param, report)
    if target.provider == "local" and "from_checkpoint" in target.options:
        parent_adapter(
            session, settings, tenant_id, target.options["from_checkpoint"], request.model
        )
    elif "from_checkpoint" in target.options:
        provider_checkpoint(
            session, tenant_id, target.options["from_checkpoint"], target.provider, request.model
        )
    return CheckedRequest(target, training, validation)


def create_job_with_warnings(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: CreateJobRequest,
    *,
    today: date | None = None,
    quoted_by_study: str | None = None,
) -> CreatedJob:
    """Checked before anything is queued; ``today`` (default: the UTC date) decides what a
    closing provider still takes; ``quoted_by_study``: the study launching it (its quote held
    the job's cost until now, so it is not counted twice)."""
    day = today or utcnow().date()
    checked = checked_request(session, settings, tenant_id, request, day)
    target, training, validation = checked.target, checked.training, checked.validation
    webhook_url = _job_webhook_url(request.webhook_url, settings) if request.webhook_url else None
    hyperparameters = request.effective_hyperparameters()
    estimate = costs.estimate_cost(
        session,
        settings,
        provider=target.provider,
        model=target.provider_model,
        training_report=training,
        validation_report=validation,
        hyperparameters=hyperparameters,
    )
    # The tenant row is locked before the budget row, in the order an eval run's create takes
    # them (the other order could deadlock the two). Held, so the session's (weak) identity map
    # keeps the row the lock loaded: the credentials check below reads the tenant's fallback
    # setting from it instead of the database.
    locked = check_active_jobs(session, settings, tenant_id)
    if locked.has_budget:  # no budget row: unlimited, nothing to check or lock
        costs.check_budget(
            session, settings, tenant_id, estimate.amount, quoted_by_study=quoted_by_study
        )
    if target.provider != "local":
        require_credentials(session, settings, tenant_id, target.provider)
    if webhook_url is not None:  # its deliveries are signed with the tenant secret
        tenant_secret(session, tenant_id, keyring_for(settings))
    now = utcnow()
    job = JobRepository(session).add(
        Job(
            tenant_id=tenant_id,
            provider=target.provider,
            model=request.model,
            status=VALIDATING_FILES,
            method=method_record(request),
            hyperparameters=hyperparameters,
            provider_options=target.options,
            training_file_id=request.training_file,
            validation_file_id=request.validation_file,
            provider_file_ids={},
            suffix=request.suffix,
            seed=request.seed if request.seed is not None else secrets.randbelow(2**31),
            user_metadata=dict(request.metadata or {}),
            webhook_url=webhook_url,
            result_files=[],
            estimated_cost=estimate.amount,
            validation_summary=validation_summary(training, validation),
            created_at=now,
            updated_at=now,
            # its launch is due at once: set with the insert, so scheduling it writes nothing
            next_poll_at=now,
        )
    )
    progress = ProgressWriter(session, job)
    progress.stage_event(
        EventRecord(
            f"Created fine-tuning job: {job.id}",
            data={"provider": target.provider, "estimated_cost": estimate.to_dict()},
            created_at=now,
        )
    )
    warnings = lifecycle_warnings(target.info, day)
    for warning in warnings:
        progress.stage_event(
            EventRecord(
                warning.message,
                level="warn",
                data={"code": warning.code, "date": warning.date},
                created_at=now,
            )
        )
    if request.integrations:
        projects = ", ".join(sorted({i.wandb.project for i in request.integrations}))
        progress.stage_event(
            EventRecord(
                "Integrations stored as given; tuneforge does not send metrics to Weights & "
                f"Biases (project {projects}): read them from this job's events and "
                "checkpoints.",
                level="warn",
                data={"integrations": [i.type for i in request.integrations]},
                created_at=now,
            )
        )
    if target.provider == "local":
        # The files were checked above and nothing external validates them again: the job
        # waits in the gpu queue until a worker with a free GPU takes it.
        transition(
            session,
            job,
            QUEUED,
            reason="Files validated; waiting for a GPU worker",
            settings=settings,
            now=now,
        )
    steps.schedule(session, job, now, now=now)
    return CreatedJob(job, warnings)


def method_record(request: CreateJobRequest) -> dict[str, Any]:
    """What ``jobs.method`` keeps: the method's type and the ``integrations`` as given (echoed
    on the job object; nothing calls them)."""
    record: dict[str, Any] = {"type": request.method_type()}
    if request.integrations:
        record["integrations"] = [i.model_dump() for i in request.integrations]
    return record


def get_job(session: Session, tenant_id: str, job_id: str) -> Job:
    job = JobRepository(session).get_for_tenant(tenant_id, job_id)
    if job is None:
        raise NotFound(f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id")
    return job


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


def list_jobs(
    session: Session,
    tenant_id: str,
    *,
    after: str | None,
    limit: int,
    metadata: Mapping[str, str],
) -> Page[Job]:
    rows = JobRepository(session).list_for_tenant(
        tenant_id, after=after, limit=limit + 1, metadata=metadata
    )
    return Page(rows[:limit], len(rows) > limit)


def list_events(
    session: Session, tenant_id: str, job_id: str, *, after: str | None, limit: int
) -> Page[JobEvent]:
    job = get_job(session, tenant_id, job_id)
    rows = JobRepository(session).events(job.id, after=after, limit=limit + 1)
    return Page(rows[:limit], len(rows) > limit)


def list_checkpoints(
    session: Session, tenant_id: str, job_id: str, *, after: str | None, limit: int
) -> tuple[Job, Page[Checkpoint]]:
    job = get_job(session, tenant_id, job_id)
    rows = JobRepository(session).checkpoints(job.id, after=after, limit=limit + 1)
    return job, Page(rows[:limit], len(rows) > limit)


def cancel_target(session: Session, tenant_id: str | None, job_id: str) -> Job:
    """The job a cancel names, locked (``tenant_id=None``: any tenant's); 404 if not found."""
    repository = JobRepository(session)
    found = (
        repository.get(job_id, lock=True)
        if tenant_id is None
        else repository.get_for_tenant(tenant_id, job_id)
    )
    if found is None:
        raise NotFound(f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id")
    return repository.get(found.id, lock=True) or found


def cancel_job(session: Session, settings: Settings, tenant_id: str | None, job_id: str) -> Job:
    """Cancel a job (``tenant_id=None``: an admin acting for any tenant). A job not yet
    launched is cancelled here and never reaches the provider; a launch in progress sees the
    request before it creates anything; a launched job gets a cancel task for the provider."""
    job = cancel_target(session, tenant_id, job_id)
    if is_terminal(job.status):
        if job.status == CANCELLED:
            return job
        raise InvalidRequest(
            f"Job {job.id} has already {job.status}; it cannot be cancelled.",
            code="job_not_cancellable",
        )
    now = utcnow()
    if job.cancel_requested_at is None:
        job.cancel_requested_at = now
    launching = job.lease_expires_at is not None and job.lease_expires_at > now
    if job.provider_job_id is None and not launching:
        transition(
            session,
            job,
            CANCELLED,
            reason="cancelled before it reached the provider",
            settings=settings,
        )
        return job
    if job.provider_job_id is not None:
        steps.schedule(session, job, now, now=now)
    return job


def retry_launch(session: Session, job_id: str, *, now: datetime | None = None) -> Job:
    """Dashboard: run a job's pending launch now instead of after its backoff."""
    job = JobRepository(session).get(job_id, lock=True)
    if job is None:
        raise NotFound(f"No fine-tuning job found with id '{job_id}'.")
    if is_terminal(job.status) or job.provider_job_id is not None:
        raise InvalidRequest(f"Job {job.id} has no pending launch ({job.status}).")
    steps.schedule(session, job, now or utcnow())
    return job


def metadata_filters(query: Mapping[str, str]) -> dict[str, str]:
    """``metadata[key]=value`` query parameters as a dict."""
    found: dict[str, str] = {}
    for name, value in query.items():
        if name.startswith("metadata[") and name.endswith("]") and len(name) > 10:
            found[name[9:-1]] = value
    return found
