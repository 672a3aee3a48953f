"""Launch: convert the dataset to the provider's format, upload it, create the provider job
with our tag — exactly once per job, across crashes and ambiguous failures. A step on the
lifecycle engine (``service.lifecycle.runner``), which holds the lease and records outcomes.

Each attempt is counted before any side effect, so an attempt after a crash (or after an
ambiguous create, or an unexpected error) first asks the provider for a job with our tag and
adopts it instead of creating another. Uploaded file ids are committed as soon as they exist,
so a retry does not upload again. Only a dataset that cannot be converted fails the job as an
invalid file; any other error is retried, because a provider job may already exist for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from providers.base import Hyperparameters, JobSpec, ProviderAdapter, ProviderJob
from providers.catalog import resolve_provider
from providers.errors import ProviderError, ProviderRetryableError
from service.credentials.service import CredentialsMissing, ProviderCredentials
from service.datasets.convert import convert_file
from service.db.models import Job
from service.db.session import session_scope
from service.db.types import utcnow
from service.errors import InvalidRequest
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.jobs.lifecycle.adopt import adopt_provider_job
from service.jobs.lifecycle.job_files import files_or_fail
from service.jobs.lifecycle.kind import JOB, LAUNCH_TASK, next_task
from service.jobs.provider_parent import provider_checkpoint
from service.jobs.repository import JobRepository
from service.jobs.transitions import CANCELLED, FAILED, transition
from service.lifecycle import leases
from service.lifecycle.kind import StepAbandoned, StepContext, StepFailed, StepRetry
from service.lifecycle.runner import run_step
from service.observability.metrics import time_provider_call
from service.settings import Settings

MAX_LAUNCH_ATTEMPTS = 12
"""Attempts (crashes and transient errors alike) before a launch is given up as failed."""

CANCELLED_BEFORE_CREATE = "cancelled before it reached the provider"


@dataclass(frozen=True)
class LaunchPlan:
    job_id: str
    provider: str
    attempt: int
    spec_fields: dict[str, Any]
    files: dict[str, tuple[str, str]]  # kind → (file id, storage path)
    uploaded: dict[str, str]  # kind → provider file id
    credentials: ProviderCredentials | CredentialsMissing


class Cancelled:
    """``act``'s answer when a cancel arrived before the provider job was created."""


def launch_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    """The ``tuneforge.launch_job`` task body; safe to run any number of times."""
    run_step(JOB, LaunchStep(adapter_factory), sessions, settings, job_id)


@dataclass(frozen=True)
class LaunchStep:
    adapter_factory: AdapterFactory
    task: str = LAUNCH_TASK
    heartbeat: bool = True

    def wanted(self, job: Job) -> bool:
        return job.provider_job_id is None and next_task(job) == LAUNCH_TASK

    def begin(self, ctx: StepContext, session: Session, job: Job) -> LaunchPlan | None:
        if job.provider_job_id is not None:
            return None
        if job.cancel_requested_at is not None:
            transition(
                session, job, CANCELLED, reason=CANCELLED_BEFORE_CREATE, settings=ctx.settings
            )
            return None
        if job.launch_attempts >= MAX_LAUNCH_ATTEMPTS:
            transition(
                session,
                job,
                FAILED,
                settings=ctx.settings,
                reason=f"the launch failed {job.launch_attempts} times",
                error={
                    "code": "launch_failed",
                    "param": None,
                    "message": f"The job could not be started on {job.provider} after "
                    f"{job.launch_attempts} attempts.",
                },
            )
            return None
        job.launch_attempts += 1
        stored = files_or_fail(session, ctx.settings, job, JobRepository(session))
        if stored is None:
            return None
        try:
            spec_fields = _spec_fields(session, job)
        except InvalidRequest as exc:  # the parent checked at create is no longer usable
            transition(
                session,
                job,
                FAILED,
                settings=ctx.settings,
                reason="from_checkpoint is not usable",
                error={"code": "invalid_provider_options", "param": exc.param, "message": str(exc)},
            )
            return None
        return LaunchPlan(
            job_id=job.id,
            provider=job.provider,
            attempt=job.launch_attempts,
            spec_fields=spec_fields,
            files={kind: (file.id, file.storage_path) for kind, file in stored.items()},
            uploaded={k: str(v) for k, v in (job.provider_file_ids or {}).items()},
            credentials=tenant_credentials(session, ctx.settings, job.tenant_id, job.provider),
        )

    def act(self, ctx: StepContext, plan: LaunchPlan) -> ProviderJob | Cancelled:
        adapter = build_adapter(self.adapter_factory, ctx.settings, plan.credentials)
        if plan.attempt > 1:
            found = _find_by_tag(plan, adapter)
            if found is not None:
                return found
        uploaded = dict(plan.uploaded)
        for kind, (file_id, path) in plan.files.items():
            if kind in uploaded:
                continue
            converted = _convert(ctx.settings, plan, kind, file_id, Path(path))
            try:
                with time_provider_call(plan.provider, "upload_dataset"):
                    uploaded[kind] = adapter.upload_dataset(converted, f"{file_id}.jsonl")
            finally:
                converted.unlink(missing_ok=True)
            _remember_upload(ctx, plan.job_id, uploaded)
        spec = JobSpec(
            training_file=uploaded["training"],
            validation_file=uploaded.get("validation"),
            **plan.spec_fields,
        )
        if _cancel_requested(ctx, plan.job_id):
            return Cancelled()
        try:
            with time_provider_call(plan.provider, "create_job"):
                return adapter.create_job(spec)
        except ProviderRetryableError:
            # Ambiguous: the job may exist although the answer was lost. Look before retrying.
            try:
                found = _find_by_tag(plan, adapter)
            except ProviderError:
                found = None
            if found is not None:
                return found
            raise

    def finish(
        self, ctx: StepContext, session: Session, job: Job, result: ProviderJob | Cancelled
    ) -> None:
        if isinstance(result, Cancelled):
            if job.provider_job_id is None:
                transition(
                    session, job, CANCELLED, reason=CANCELLED_BEFORE_CREATE, settings=ctx.settings
                )
            return
        adopt_provider_job(session, ctx.settings, job, result)

    def on_retry(self, ctx: StepContext, session: Session, job: Job, retry: StepRetry) -> int:
        return job.launch_attempts


def _spec_fields(session: Session, job: Job) -> dict[str, Any]:
    _, provider_model = resolve_provider(job.model, job.provider)
    options = dict(job.provider_options or {})
    hyper = dict(job.hyperparameters or {})
    parent = options.pop("from_checkpoint", None)
    return {
        "from_checkpoint": (
            provider_checkpoint(session, job.tenant_id, parent, job.provider, job.model)
            if parent is not None
            else None
        ),
        "tag": job.id,
        "model": provider_model,
        "method": str(job.method.get("type", "supervised")),
        "hyperparameters": Hyperparameters(
            n_epochs=hyper.get("n_epochs", "auto"),
            batch_size=hyper.get("batch_size", "auto"),
            learning_rate_multiplier=hyper.get("learning_rate_multiplier", "auto"),
        ),
        "suffix": job.suffix,
        "seed": job.seed,
        "training_type": options.pop("training_type", None),
        "lora_rank": options.pop("lora_rank", None),
        "lora_alpha": options.pop("lora_alpha", None),
        "dpo_beta": hyper.get("beta") if isinstance(hyper.get("beta"), int | float) else None,
        "options": options,
    }


def _find_by_tag(plan: LaunchPlan, adapter: ProviderAdapter) -> ProviderJob | None:
    with time_provider_call(plan.provider, "find_job_by_tag"):
        return adapter.find_job_by_tag(plan.job_id)


def _convert(settings: Settings, plan: LaunchPlan, kind: str, file_id: str, source: Path) -> Path:
    """The dataset in the provider's format; a file that cannot be converted fails the job
    (nothing was created at the provider for it yet)."""
    folder = settings.artifacts_dir / "launch" / plan.job_id
    converted = folder / f"{kind}-{plan.provider}.jsonl"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        report = convert_file(
            source, converted, plan.provider, max_line_bytes=settings.max_line_bytes
        )
    except (OSError, ValueError) as exc:
        converted.unlink(missing_ok=True)
        raise StepFailed(_invalid_file(f"Could not prepare the dataset: {exc}")) from exc
    if report.lines_written == 0:
        converted.unlink(missing_ok=True)
        raise StepFailed(_invalid_file(f"{file_id} has no example {plan.provider} can train on"))
    return converted


def _invalid_file(message: str) -> dict[str, Any]:
    return {"code": "invalid_file", "message": message, "param": "training_file"}


def _remember_upload(ctx: StepContext, job_id: str, uploaded: dict[str, str]) -> None:
    with session_scope(ctx.sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or job.lease_owner != ctx.owner:
            raise StepAbandoned(job_id)
        job.provider_file_ids = dict(uploaded)


def _cancel_requested(ctx: StepContext, job_id: str) -> bool:
    """The last check before the paid side effect: our lease is live (else the step is
    abandoned) and whether a cancel arrived. It only reads: the runner records the outcome."""
    if ctx.lease_lost.is_set():
        raise StepAbandoned(job_id)
    with session_scope(ctx.sessions) as session:
        job = JobRepository(session).get(job_id)
        if job is None or not leases.holds_live_lease(job, ctx.owner, utcnow()):
            raise StepAbandoned(job_id)
        return job.cancel_requested_at is not None
