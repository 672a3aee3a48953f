"""Folding a provider snapshot into a job: new checkpoints announce themselves to the
endpoints subscribed to ``fine_tuning.job.checkpoint.created``, once each."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import JobStatus, ProviderCheckpoint, ProviderJob
from service.db.models import OutboxMessage, WebhookDelivery
from service.db.types import utcnow
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.lifecycle.steps import POLL_TASK, PROMPT_POLL_TASK
from service.settings import Settings
from service.webhooks.endpoints import create_endpoint
from service.webhooks.events import CHECKPOINT_CREATED, JOB_RUNNING
from tests.service.webhooks.helpers import tenant_and_job


def _snapshot(job_id: str) -> ProviderJob:
    return ProviderJob(
        provider="openai", id=job_id, status=JobStatus.RUNNING, provider_status="running"
    )


def test_a_new_checkpoint_is_announced_to_subscribed_endpoints(
    db_session: Session, settings: Settings
) -> None:
    tenant, job = tenant_and_job(db_session, status="running", provider_job_id="ftjob-emu-1")
    wants = create_endpoint(
        db_session,
        tenant.id,
        url="http://127.0.0.1:9/ckpt",
        settings=settings.model_copy(
            update={"webhook_allow_http": True, "webhook_allow_private": True}
        ),
        events=[CHECKPOINT_CREATED, JOB_RUNNING],
    )
    create_endpoint(  # terminal events only (the default): hears nothing here
        db_session,
        tenant.id,
        url="http://127.0.0.1:9/terminal",
        settings=settings.model_copy(
            update={"webhook_allow_http": True, "webhook_allow_private": True}
        ),
    )
    now = utcnow()
    first = ProviderCheckpoint(step=10, created_at=now, metrics={"train_loss": 0.9}, id="c10")
    second = ProviderCheckpoint(step=20, created_at=now, metrics={"train_loss": 0.5}, id="c20")

    apply_provider_job(db_session, settings, job, _snapshot("ftjob-emu-1"), checkpoints=[first])
    apply_provider_job(
        db_session,
        settings,
        job,
        _snapshot("ftjob-emu-1"),
        checkpoints=[first, second],  # a repeated poll lists the old one again
        now=now + timedelta(seconds=5),
    )

    deliveries = db_session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.job_id == job.id)
    ).all()
    assert [d.event_type for d in deliveries] == [CHECKPOINT_CREATED, CHECKPOINT_CREATED]
    assert {d.endpoint_id for d in deliveries} == {wants.endpoint.id}
    steps = sorted(d.payload["data"]["checkpoint"]["step_number"] for d in deliveries)
    assert steps == [10, 20]
    checkpoint = deliveries[0].payload["data"]["checkpoint"]
    assert checkpoint["id"].startswith("ftckpt") and checkpoint["metrics"]
    keys = db_session.scalars(
        select(OutboxMessage.dedupe_key).where(
            OutboxMessage.target_id.in_([d.id for d in deliveries])
        )
    ).all()
    assert len(keys) == 2


def test_the_providers_estimate_is_kept_and_brings_the_next_poll_forward(
    db_session: Session, settings: Settings
) -> None:
    # Per-job polls (a provider that lists is swept instead: tests/service/jobs/test_sweep.py).
    settings = settings.model_copy(update={"sweep_enabled": False})
    _, job = tenant_and_job(db_session, status="running", provider_job_id="ftjob-emu-eta")
    job.started_at = utcnow() - timedelta(hours=1)  # the usual interval is minutes by now
    now = utcnow()
    finish = now + timedelta(seconds=3)
    snapshot = ProviderJob(
        provider="openai",
        id="ftjob-emu-eta",
        status=JobStatus.RUNNING,
        provider_status="running",
        estimated_finish_at=finish,
        next_change_at=finish,
    )

    apply_provider_job(db_session, settings, job, snapshot, now=now)

    assert job.estimated_finish_at == finish
    assert job.next_poll_at is not None
    assert abs((job.next_poll_at - finish).total_seconds() - 0.5) < 0.01
    # That poll goes ahead of routine ones; without an estimate the next one is routine.
    job.started_at = now  # a routine poll soon enough to be written to the outbox at once
    apply_provider_job(db_session, settings, job, replace(snapshot, next_change_at=None), now=now)
    tasks = db_session.scalars(
        select(OutboxMessage.task)
        .where(OutboxMessage.target_id == job.id)
        .order_by(OutboxMessage.available_at)
    ).all()
    assert tasks == [PROMPT_POLL_TASK, POLL_TASK]
