"""OpenAI's ``POST /v1/fine_tuning/jobs/{id}/pause`` and ``/resume`` (``client.fine_tuning.jobs
.pause``/``resume``): a running job pauses, a paused one runs on.

A local job pauses by its trainer checkpointing and stopping at the next step boundary
(``pausing`` → ``paused``); resuming queues it for a GPU worker, which trains on from that
checkpoint, its loss curve continuing. An OpenAI job's pause and resume go to OpenAI as the
job's next step (``service.jobs.lifecycle.pause``). Other providers cannot pause: a 400 naming
the provider. Every status change goes through the transition function."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import Job
from service.db.types import utcnow
from service.errors import InvalidRequest, NotFound
from service.jobs.lifecycle import steps
from service.jobs.repository import JobRepository
from service.jobs.transitions import PAUSED, PAUSING, QUEUED, RUNNING, transition
from service.settings import Settings

PAUSABLE = ("openai", "local")
"""Providers whose jobs pause: OpenAI's API has pause/resume, and our own trainer."""


def pause_job(session: Session, settings: Settings, tenant_id: str, job_id: str) -> Job:
    job = _locked(session, tenant_id, job_id, "paused")
    if job.status in (PAUSING, PAUSED):
        return job
    if job.status != RUNNING or job.cancel_requested_at is not None:
        state = "being cancelled" if job.cancel_requested_at is not None else job.status
        raise InvalidRequest(
            f"Job {job.id} is {state}; only a running job can be paused.",
            param="fine_tuning_job_id",
            code="job_not_pausable",
        )
    transition(session, job, PAUSING, reason="pause requested", settings=settings)
    if job.provider != "local":
        now = utcnow()
        steps.schedule(session, job, now, now=now)  # the pause goes to the provider next
    return job


def resume_job(session: Session, settings: Settings, tenant_id: str, job_id: str) -> Job:
    job = _locked(session, tenant_id, job_id, "resumed")
    if job.status != PAUSED:
        raise InvalidRequest(
            f"Job {job.id} is {job.status}; only a paused job can be resumed.",
            param="fine_tuning_job_id",
            code="job_not_resumable",
        )
    now = utcnow()
    if job.provider == "local":
        transition(
            session,
            job,
            QUEUED,
            reason="resumed; training continues from the last checkpoint on a GPU worker",
            settings=settings,
        )
    else:
        transition(session, job, RUNNING, reason="resume requested", settings=settings)
    steps.schedule(session, job, now, now=now)
    return job


def _locked(session: Session, tenant_id: str, job_id: str, verb: str) -> Job:
    repository = JobRepository(session)
    found = repository.get_for_tenant(tenant_id, job_id)
    if found is None:
        raise NotFound(f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id")
    if found.provider not in PAUSABLE:
        raise InvalidRequest(
            f"{found.provider} fine-tuning jobs cannot be {verb}: only openai and local jobs "
            "support pause and resume.",
            param="fine_tuning_job_id",
            code="pause_not_supported",
        )
    return repository.get(found.id, lock=True) or found
