"""Launch: convert the dataset to the provider's format, upload it, create the provider job
with our tag — exactly once per job, across crashes and ambiguous failures.

The lease keeps a second worker out while one is launching; each attempt is counted before
any side effect, so an attempt after a crash (or after an ambiguous create) first asks the
provider for a job with our tag and adopts it instead of creating another. Uploaded file ids
are committed as soon as they exist, so a retry does not upload again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from providers.base import Hyperparameters, JobSpec, ProviderAdapter, ProviderJob
from providers.catalog import resolve_provider
from providers.errors import ProviderError, ProviderPermanentError, ProviderRetryableError
from service.credentials.service import CredentialsMissing, ProviderCredentials
from service.datasets.convert import convert_file
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.lifecycle import leases, pacing, steps
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.jobs.lifecycle.adopt import adopt_provider_job
from service.jobs.lifecycle.failing import fail_job
from service.jobs.lifecycle.job_files import files_or_fail
from service.jobs.repository import JobRepository
from service.jobs.transitions import CANCELLED, FAILED, is_terminal, transition
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)

MAX_LAUNCH_ATTEMPTS = 12
"""Attempts (crashes and transient errors alike) before a launch is given up as failed."""


@dataclass(frozen=True)
class LaunchPlan:
    job_id: str
    provider: str
    attempt: int
    spec_fields: dict[str, Any]
    files: dict[str, tuple[str, str]]  # kind → (file id, storage path)
    uploaded: dict[str, str]  # kind → provider file id
    credentials: ProviderCredentials | CredentialsMissing


class LaunchAbandoned(Exception):
    """The lease was lost or the job was cancelled before the provider job was created."""


def launch_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    """The ``tuneforge.launch_job`` task body; safe to run any number of times."""
    owner = leases.new_owner()
    if not leases.claim(sessions, job_id, owner, settings.lease_ttl_s):
        return  # finished, already launched by the time we ran, or someone holds the lease
    plan = _begin(sessions, settings, job_id, owner)
    if plan is None:
        return
    with leases.heartbeat(sessions, job_id, owner, settings.lease_ttl_s) as lost:
        try:
            adapter = build_adapter(adapter_factory, settings, plan.credentials)
            created = _launch(sessions, settings, plan, adapter, owner, lost)
        except LaunchAbandoned:
            _release(sessions, job_id, owner)
            return
        except ProviderRetryableError as exc:
            _retry_later(sessions, settings, plan, owner, exc.message, exc.retry_after)
            return
        except ProviderPermanentError as exc:
            fail_job(sessions, settings, job_id, owner, provider_error(exc))
            return
        except (OSError, ValueError) as exc:
            error = {
                "code": "invalid_file",
                "message": f"Could not prepare the dataset: {exc}",
                "param": "training_file",
            }
            fail_job(sessions, settings, job_id, owner, error)
            return
        except Exception as exc:  # a bug or an unexpected SDK failure: retry, never crash
            log.exception("launch of %s failed unexpectedly", job_id)
            _retry_later(sessions, settings, plan, owner, f"unexpected error: {exc}", None)
            return
    with session_scope(sessions) as session:
        adopt_provider_job(session, settings, job_id, created, owner=owner)


def _begin(
    sessions: sessionmaker[Session], settings: Settings, job_id: str, owner: str
) -> LaunchPlan | None:
    with session_scope(sessions) as session:
        repository = JobRepository(session)
        job = repository.get(job_id, lock=True)
        if job is None or is_terminal(job.status) or job.provider_job_id is not None:
            leases.release(session, job_id, owner)
            return None
        if job.cancel_requested_at is not None:
            transition(
                session,
                job,
                CANCELLED,
                reason="cancelled before it reached the provider",
                settings=settings,
            )
            return None
        if job.launch_attempts >= MAX_LAUNCH_ATTEMPTS:
            transition(
                session,
                job,
                FAILED,
                settings=settings,
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
        stored = files_or_fail(session, settings, job, repository)
        if stored is None:
            return None
        paths = {kind: (file.id, file.storage_path) for kind, file in stored.items()}
        _, provider_model = resolve_provider(job.model, job.provider)
        options = dict(job.provider_options or {})
        hyper = dict(job.hyperparameters or {})
        spec_fields: dict[str, Any] = {
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
        return LaunchPlan(
            job_id=job.id,
            provider=job.provider,
            attempt=job.launch_attempts,
            spec_fields=spec_fields,
            files=paths,
            uploaded={k: str(v) for k, v in (job.provider_file_ids or {}).items()},
            credentials=tenant_credentials(session, settings, job.tenant_id, job.provider),
        )


def _launch(
    sessions: sessionmaker[Session],
    settings: Settings,
    plan: LaunchPlan,
    adapter: ProviderAdapter,
    owner: str,
    lost: Any,
) -> ProviderJob:
    if plan.attempt > 1:
        found = _find_by_tag(plan, adapter)
        if found is not None:
            return found
    uploaded = dict(plan.uploaded)
    for kind, (file_id, path) in plan.files.items():
        if kind in uploaded:
            continue
        uploaded[kind] = _convert_and_upload(settings, plan, adapter, kind, file_id, Path(path))
        _remember_upload(sessions, plan.job_id, owner, uploaded)
    spec = JobSpec(
        training_file=uploaded["training"],
        validation_file=uploaded.get("validation"),
        **plan.spec_fields,
    )
    _ensure_still_wanted(sessions, plan.job_id, owner, lost)
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


def _find_by_tag(plan: LaunchPlan, adapter: ProviderAdapter) -> ProviderJob | None:
    with time_provider_call(plan.provider, "find_job_by_tag"):
        return adapter.find_job_by_tag(plan.job_id)


def _convert_and_upload(
    settings: Settings,
    plan: LaunchPlan,
    adapter: ProviderAdapter,
    kind: str,
    file_id: str,
    source: Path,
) -> str:
    folder = settings.artifacts_dir / "launch" / plan.job_id
    folder.mkdir(parents=True, exist_ok=True)
    converted = folder / f"{kind}-{plan.provider}.jsonl"
    report = convert_file(source, converted, plan.provider, max_line_bytes=settings.max_line_bytes)
    if report.lines_written == 0:
        raise ValueError(f"{file_id} has no example {plan.provider} can train on")
    try:
        with time_provider_call(plan.provider, "upload_dataset"):
            return adapter.upload_dataset(converted, f"{file_id}.jsonl")
    finally:
        converted.unlink(missing_ok=True)


def _remember_upload(
    sessions: sessionmaker[Session], job_id: str, owner: str, uploaded: dict[str, str]
) -> None:
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or job.lease_owner != owner:
            raise LaunchAbandoned(job_id)
        job.provider_file_ids = dict(uploaded)


def _ensure_still_wanted(
    sessions: sessionmaker[Session], job_id: str, owner: str, lost: Any
) -> None:
    """The last check before the paid side effect: our lease is live and nobody cancelled."""
    if lost.is_set():
        raise LaunchAbandoned(job_id)
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        now = utcnow()
        if (
            job is None
            or job.lease_owner != owner
            or job.lease_expires_at is None
            or job.lease_expires_at <= now
        ):
            raise LaunchAbandoned(job_id)
        if job.cancel_requested_at is not None:
            leases.release(session, job_id, owner)
            job.lease_owner = None
            steps.schedule(session, job, now, now=now)  # the next launch sees the cancel
            raise LaunchAbandoned(job_id)


def _retry_later(
    sessions: sessionmaker[Session],
    settings: Settings,
    plan: LaunchPlan,
    owner: str,
    reason: str,
    retry_after: float | None,
) -> None:
    log.warning("launch of %s will be retried: %s", plan.job_id, reason)
    with session_scope(sessions) as session:
        job = JobRepository(session).get(plan.job_id, lock=True)
        if job is None or is_terminal(job.status) or job.lease_owner != owner:
            return
        leases.release(session, job.id, owner)
        now = utcnow()
        delay = pacing.backoff_s(plan.attempt, settings, retry_after)
        steps.schedule(session, job, pacing.after(now, delay), now=now)


def _release(sessions: sessionmaker[Session], job_id: str, owner: str) -> None:
    with session_scope(sessions) as session:
        leases.release(session, job_id, owner)


def provider_error(exc: ProviderError) -> dict[str, Any]:
    return {
        "code": exc.code or "provider_error",
        "message": f"{exc.provider}: {exc.message}",
        "param": exc.param,
    }
