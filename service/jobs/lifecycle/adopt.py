"""Applying what a provider says about a job to our row: its id (on launch), status, model,
tokens, and new events, metrics and checkpoints (through the engine's one progress writer) —
idempotently, so a repeated poll or a duplicate task changes nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from providers.base import ProviderCheckpoint, ProviderEvent, ProviderJob
from providers.registry import lists_jobs
from service.db.models import Job
from service.db.types import utcnow
from service.jobs.costs import FinalUsage
from service.jobs.lifecycle import pacing, steps
from service.jobs.sweeps.compare import progress_of
from service.jobs.sweeps.repository import credential_owner, ensure_sweep
from service.jobs.transitions import FAILED, PAUSED, RUNNING, can_move, is_terminal, transition
from service.lifecycle.progress import CheckpointRecord, EventRecord, ProgressWriter
from service.settings import Settings


def adopt_provider_job(session: Session, settings: Settings, job: Job, found: ProviderJob) -> Job:
    """Record the provider job created (or found by tag) for ``job`` (locked) and schedule its
    next step: a cancel if one was asked for meanwhile, else the first poll."""
    if job.provider_job_id is None:
        job.provider_job_id = found.id
        ProgressWriter(session, job).event(
            EventRecord(
                f"Created {job.provider} job {found.id}",
                data={"provider_job_id": found.id, "attempt": job.launch_attempts},
            )
        )
    apply_provider_job(session, settings, job, found)
    return job


def apply_provider_job(
    session: Session,
    settings: Settings,
    job: Job,
    found: ProviderJob,
    events: Sequence[ProviderEvent] = (),
    checkpoints: Sequence[ProviderCheckpoint] = (),
    *,
    now: datetime | None = None,
    answers_pause: bool = False,
) -> None:
    """Fold one provider snapshot into the job, then schedule its next step. While a pause or
    resume asked here waits to be sent, a snapshot (a poll or sweep that crossed it) does not
    move the job between running and paused; the provider's answer to that call
    (``answers_pause``) does."""
    now = now or utcnow()
    waiting = steps.next_task(job) in (steps.PAUSE_TASK, steps.RESUME_TASK) and not answers_pause
    job.provider_status = found.provider_status[:64]
    job.poll_failures = 0
    if found.fine_tuned_model:
        job.fine_tuned_model = found.fine_tuned_model
    if found.trained_tokens is not None:
        job.trained_tokens = found.trained_tokens
    job.estimated_finish_at = None if found.status.is_terminal else found.estimated_finish_at
    job.provider_progress = progress_of(found)
    progress = ProgressWriter(session, job)
    progress.events([_event_record(event) for event in events])
    progress.checkpoints([_checkpoint_record(checkpoint) for checkpoint in checkpoints])
    if is_terminal(job.status):
        return
    target = found.status
    crossed = waiting and target in (RUNNING, PAUSED)
    if can_move(job.status, target) and not crossed:
        error = None
        if target == FAILED:
            error = (
                {
                    "code": found.error.code,
                    "message": found.error.message,
                    "param": found.error.param,
                }
                if found.error is not None
                else {
                    "code": "provider_failed",
                    "param": None,
                    "message": f"{job.provider} reported the job as {found.provider_status}.",
                }
            )
        usage = FinalUsage(
            trained_tokens=found.trained_tokens,
            provider_cost=found.cost,
            provider_currency=found.cost_currency,
            duration_s=_duration(job, now),
        )
        transition(
            session,
            job,
            target,
            settings=settings,
            error=error,
            usage=usage,
            now=now,
            reason=f"{job.provider} status {found.provider_status}",
        )
    if is_terminal(job.status):
        return
    if steps.next_task(job) == steps.CANCEL_TASK:
        steps.schedule(session, job, now, now=now)
        return
    swept = settings.sweep_enabled and lists_jobs(job.provider)
    if swept:
        owner = credential_owner(session, job.tenant_id, job.provider)
        ensure_sweep(session, settings, job.provider, owner, now)
    usual = pacing.poll_interval_s(job, now, settings, swept=swept)
    interval = pacing.poll_interval_s(job, now, settings, found.next_change_at, swept=swept)
    # A poll brought forward by the provider's estimate is likely to find the job finished:
    # it goes ahead of routine polls, so a backlog of those does not delay the end's webhook.
    steps.schedule(session, job, pacing.after(now, interval), now=now, prompt=interval < usual)


def _event_record(event: ProviderEvent) -> EventRecord:
    return EventRecord(
        message=event.message,
        level=event.level or "info",
        type=event.type or "message",
        data=dict(event.data or {}) or None,
        provider_event_id=event.id,
        created_at=event.created_at,
    )


def _checkpoint_record(checkpoint: ProviderCheckpoint) -> CheckpointRecord:
    return CheckpointRecord(
        step=checkpoint.step,
        model=checkpoint.model,
        metrics={k: float(v) for k, v in checkpoint.metrics.items()},
        provider_checkpoint_id=checkpoint.id,
        created_at=checkpoint.created_at,
    )


def _duration(job: Job, now: datetime) -> float | None:
    return (now - job.started_at).total_seconds() if job.started_at is not None else None
