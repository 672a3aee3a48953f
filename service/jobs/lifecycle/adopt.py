"""Applying what a provider says about a job to our row: its id (on launch), status,
model, tokens, and new events, metrics and checkpoints — idempotently, so a repeated poll or
a duplicate task changes nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from providers.base import ProviderCheckpoint, ProviderEvent, ProviderJob
from service.db.models import Checkpoint, Job, JobEvent, Metric
from service.db.types import utcnow
from service.jobs.costs import FinalUsage
from service.jobs.lifecycle import leases, pacing, steps
from service.jobs.repository import JobRepository
from service.jobs.transitions import FAILED, can_move, is_terminal, transition
from service.settings import Settings
from service.webhooks.deliveries import enqueue_job_event
from service.webhooks.events import CHECKPOINT_CREATED


def adopt_provider_job(
    session: Session, settings: Settings, job_id: str, found: ProviderJob, *, owner: str
) -> Job | None:
    """Record the provider job created (or found by tag) for ``job_id`` and schedule its next
    step: a cancel if one was asked for meanwhile, else the first poll."""
    job = JobRepository(session).get(job_id, lock=True)
    if job is None:
        return None
    if job.provider_job_id is None:
        job.provider_job_id = found.id
        session.add(
            JobEvent(
                tenant_id=job.tenant_id,
                job_id=job.id,
                message=f"Created {job.provider} job {found.id}",
                data={"provider_job_id": found.id, "attempt": job.launch_attempts},
            )
        )
    leases.release(session, job.id, owner)
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
) -> None:
    """Fold one provider snapshot into the job, then schedule its next step."""
    now = now or utcnow()
    job.provider_status = found.provider_status[:64]
    job.poll_failures = 0
    if found.fine_tuned_model:
        job.fine_tuned_model = found.fine_tuned_model
    if found.trained_tokens is not None:
        job.trained_tokens = found.trained_tokens
    job.estimated_finish_at = None if found.status.is_terminal else found.estimated_finish_at
    store_events(session, job, events)
    for checkpoint in store_checkpoints(session, job, checkpoints):
        enqueue_job_event(session, job, CHECKPOINT_CREATED, checkpoint=checkpoint, now=now)
    if is_terminal(job.status):
        return
    target = str(found.status)
    if can_move(job.status, target):
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
    usual = pacing.poll_interval_s(job, now, settings)
    interval = pacing.poll_interval_s(job, now, settings, found.next_change_at)
    # A poll brought forward by the provider's estimate is likely to find the job finished:
    # it goes ahead of routine polls, so a backlog of those does not delay the end's webhook.
    steps.schedule(session, job, pacing.after(now, interval), now=now, prompt=interval < usual)


def store_events(session: Session, job: Job, events: Sequence[ProviderEvent]) -> int:
    repository = JobRepository(session)
    known = repository.provider_event_ids(job.id, [e.id for e in events])
    metric_keys = repository.metric_keys(job.id) if events else set()
    added = 0
    for event in events:
        if event.id in known:
            continue
        known.add(event.id)
        data = dict(event.data or {})
        session.add(
            JobEvent(
                tenant_id=job.tenant_id,
                job_id=job.id,
                level=(event.level or "info")[:8],
                type=(event.type or "message")[:16],
                message=event.message,
                data=data or None,
                provider_event_id=event.id[:255],
                created_at=event.created_at,
            )
        )
        added += 1
        _add_metrics(session, job, data, metric_keys)
    session.flush()
    return added


def store_checkpoints(
    session: Session, job: Job, checkpoints: Sequence[ProviderCheckpoint]
) -> list[Checkpoint]:
    """Store the checkpoints not seen before (by step); returns the new rows, flushed."""
    if not checkpoints:
        return []
    repository = JobRepository(session)
    steps_known = repository.checkpoint_steps(job.id)
    metric_keys = repository.metric_keys(job.id)
    added: list[Checkpoint] = []
    for checkpoint in checkpoints:
        if checkpoint.step in steps_known:
            continue
        steps_known.add(checkpoint.step)
        metrics = {k: float(v) for k, v in checkpoint.metrics.items()}
        row = Checkpoint(
            tenant_id=job.tenant_id,
            job_id=job.id,
            step=checkpoint.step,
            provider_checkpoint_id=checkpoint.id,
            fine_tuned_model_checkpoint=checkpoint.model,
            metrics=metrics,
            created_at=checkpoint.created_at,
        )
        session.add(row)
        _add_metrics(session, job, {"step": checkpoint.step, **metrics}, metric_keys)
        added.append(row)
    session.flush()
    return sorted(added, key=lambda row: row.step)


def _add_metrics(
    session: Session, job: Job, data: dict[str, Any], known: set[tuple[int, str]]
) -> None:
    step = data.get("step")
    if not isinstance(step, int | float) or isinstance(step, bool):
        return
    for name, value in data.items():
        if name == "step" or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        key = (int(step), name[:64])
        if key in known:
            continue
        known.add(key)
        session.add(
            Metric(
                tenant_id=job.tenant_id, job_id=job.id, step=key[0], name=key[1], value=float(value)
            )
        )


def _duration(job: Job, now: datetime) -> float | None:
    return (now - job.started_at).total_seconds() if job.started_at is not None else None
