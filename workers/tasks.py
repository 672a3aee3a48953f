"""Thin Celery tasks: each reloads what it works on by id and calls into ``service``. Task
arguments are ids; every task is idempotent and exits early when its work is already done."""

from __future__ import annotations

import logging
from datetime import timedelta

from service.db.database import get_database
from service.db.session import session_scope
from service.db.types import utcnow
from service.evals.runs.deployments import sweep_orphans
from service.evals.runs.kind import EVAL_RUN, RUN_TASK
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle import cancel, launch, pause, poll
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.sweeps import step as sweep
from service.lifecycle.reconcile import enqueue_due
from service.lifecycle.runner import run_step
from service.outbox import PRUNE_BATCH, prune_sent, relay_due
from service.settings import get_settings
from service.studies import steps
from service.webhooks.deliveries import (
    ClaimedDelivery,
    claim_delivery,
    record_attempt,
    send_claimed,
)
from workers.backlog import broker_idle
from workers.celery_app import celery_app
from workers.dispatch import send_task
from workers.kinds import KINDS

log = logging.getLogger(__name__)


@celery_app.task(name="tuneforge.reconcile")
def reconcile() -> None:
    """Hand every job whose next step is due to the workers, then re-send every overdue
    outbox row, so a lost broker message or a dead worker only delays its work; stop the
    dedicated deployments of ended eval runs."""
    settings = get_settings()
    idle = broker_idle(celery_app)
    with session_scope(get_database().sessions) as session:
        jobs = enqueue_due(session, settings, KINDS, utcnow(), broker_idle=idle)
        sent = relay_due(session, send_task)
    pruned = _prune_outbox(settings.outbox_retention_s)
    # dedicated deployments still live on ended eval runs (a crash after the create)
    sweep_orphans(get_database().sessions, settings, adapter_for)
    # Steps re-offered under keys already sent are no news: INFO only when something moved.
    if sent or pruned:
        log.info(
            "reconciler: %d job step(s) due, %d outbox message(s) sent, %d old one(s) pruned",
            jobs,
            sent,
            pruned,
        )


PRUNE_BATCHES_PER_TICK = 10


def _prune_outbox(retention_s: float) -> int:
    """Delete sent outbox rows past retention, one short transaction per bounded batch."""
    before = utcnow() - timedelta(seconds=retention_s)
    pruned = 0
    for _ in range(PRUNE_BATCHES_PER_TICK):
        with session_scope(get_database().sessions) as session:
            deleted = prune_sent(session, before)
        pruned += deleted
        if deleted < PRUNE_BATCH:
            break
    return pruned


@celery_app.task(name="tuneforge.launch_job")
def launch_job(job_id: str) -> None:
    launch.launch_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name="tuneforge.poll_job")
def poll_job(job_id: str) -> None:
    poll.poll_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name="tuneforge.poll_job_now")
def poll_job_now(job_id: str) -> None:
    """A poll a provider's webhook asked for: sent at normal priority, ahead of routine polls."""
    poll.poll_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name="tuneforge.sweep_provider")
def sweep_provider(sweep_id: str) -> None:
    """One round of a provider credential's sweep (list, compare, bring polls forward)."""
    sweep.sweep_provider(get_database().sessions, get_settings(), sweep_id, adapter_for)


@celery_app.task(name="tuneforge.cancel_job")
def cancel_job(job_id: str) -> None:
    cancel.cancel_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name=RUN_TASK)
def eval_run(run_id: str) -> None:
    """Sample and grade an eval run's items (resumable; see ``service.evals.runs.step``)."""
    run_step(EVAL_RUN, RunItemsStep(adapter_for), get_database().sessions, get_settings(), run_id)


@celery_app.task(name="tuneforge.study_step")
def study_step(study_id: str) -> None:
    """A study's next step: launch its candidates, or look at their jobs."""
    steps.run_study_step(get_database().sessions, get_settings(), study_id)


@celery_app.task(name="tuneforge.pause_job")
def pause_job(job_id: str) -> None:
    pause.pause_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name="tuneforge.resume_job")
def resume_job(job_id: str) -> None:
    pause.resume_job(get_database().sessions, get_settings(), job_id, adapter_for)


@celery_app.task(name="tuneforge.deliver_webhook")
def deliver_webhook(delivery_id: str) -> None:
    """Claim (commit) → send (no transaction open) → record (commit)."""
    settings = get_settings()
    sessions = get_database().sessions
    with session_scope(sessions) as session:
        claimed = claim_delivery(session, delivery_id, settings=settings)
    if not isinstance(claimed, ClaimedDelivery):
        return
    result = send_claimed(claimed, settings=settings)
    with session_scope(sessions) as session:
        record_attempt(session, delivery_id, result, settings=settings)
