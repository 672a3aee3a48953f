"""Seeded, committed data for the dashboard's browser tests: two customer tenants and an
operators' tenant, an admin and a non-admin key, jobs in every status on several providers,
metrics, checkpoints, ledger rows, and a webhook endpoint with deliveries and attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.db.models import (
    Checkpoint,
    CostLedgerEntry,
    File,
    Job,
    JobEvent,
    Metric,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from service.db.types import utcnow
from service.tenants.service import set_monthly_budget
from tests.factories import make_key, make_tenant

FILLER_JOBS = 24
LOSS_STEPS = 20


def train_loss(step: int) -> float:
    return round(2.2 * (0.85**step) + 0.15, 4)


@dataclass(frozen=True)
class Seeded:
    admin_key: str
    user_key: str
    acme: Tenant
    globex: Tenant
    running_job_id: str  # openai, with a provider job in the emulator
    succeeded_job_id: str  # together, with curves, checkpoints, ledger and deliveries
    failed_job_id: str
    queued_job_id: str  # local, not launched yet
    failed_delivery_id: str


def _file(session: Session, tenant: Tenant, name: str) -> File:
    row = File(
        tenant_id=tenant.id,
        filename=name,
        purpose="fine-tune",
        bytes=2048,
        sha256="0" * 64,
        storage_path=f"/nonexistent/{name}",
        status="processed",
        format="chat",
    )
    session.add(row)
    session.flush()
    return row


def _job(session: Session, tenant: Tenant, file: File, **fields: Any) -> Job:
    job = Job(
        tenant_id=tenant.id,
        training_file_id=file.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        hyperparameters={"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": "auto"},
        **fields,
    )
    session.add(job)
    session.flush()
    return job


def _events(session: Session, job: Job, path: list[str], start: datetime) -> None:
    previous = "validating_files"
    for i, status in enumerate(path):
        session.add(
            JobEvent(
                tenant_id=job.tenant_id,
                job_id=job.id,
                level="error" if status == "failed" else "info",
                message=f"Job moved to {status}",
                data={"from": previous, "to": status, "reason": "seeded"},
                created_at=start + timedelta(minutes=5 * i),
            )
        )
        previous = status


def _curves(session: Session, job: Job, steps: int) -> None:
    for step in range(1, steps + 1):
        rows = {
            "train_loss": train_loss(step),
            "train_mean_token_accuracy": round(min(0.97, 0.45 + 0.03 * step), 4),
        }
        if step % 5 == 0:
            rows["valid_loss"] = round(train_loss(step) + 0.07, 4)
            rows["valid_mean_token_accuracy"] = round(min(0.95, 0.43 + 0.03 * step), 4)
        for name, value in rows.items():
            session.add(
                Metric(tenant_id=job.tenant_id, job_id=job.id, step=step, name=name, value=value)
            )


def _ledger(session: Session, job: Job, amount: str, when: datetime) -> None:
    session.add(
        CostLedgerEntry(
            tenant_id=job.tenant_id,
            job_id=job.id,
            provider=job.provider,
            model=job.model,
            amount=Decimal(amount),
            basis="seeded: 1.2M tokens × price",
            billed_tokens=1_200_000,
            occurred_at=when,
        )
    )


def seed(session: Session, running_provider_job_id: str) -> Seeded:
    now = utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = month_start - timedelta(days=3)
    ops = make_tenant(session, "operators")
    acme = make_tenant(session, "acme")
    globex = make_tenant(session, "globex")
    admin_key = make_key(session, ops, role=KeyRole.OPERATOR)
    user_key = make_key(session, acme)
    set_monthly_budget(session, acme, Decimal("50"))
    set_monthly_budget(session, globex, Decimal("5"))
    acme_file = _file(session, acme, "acme-train.jsonl")
    globex_file = _file(session, globex, "globex-train.jsonl")

    running = _job(
        session,
        acme,
        acme_file,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        status="running",
        provider_status="running",
        provider_job_id=running_provider_job_id,
        estimated_cost=Decimal("2.40"),
        created_at=now - timedelta(minutes=40),
        started_at=now - timedelta(minutes=30),
    )
    _events(session, running, ["queued", "running"], now - timedelta(minutes=40))
    _curves(session, running, 8)

    succeeded = _job(
        session,
        acme,
        acme_file,
        provider="together",
        model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        status="succeeded",
        provider_status="completed",
        provider_job_id="ft-seeded-together-1",
        provider_file_ids={"training": "file-together-1"},
        fine_tuned_model="acme/Meta-Llama-3.1-8B-Instruct-Reference-ft-1",
        estimated_cost=Decimal("1.20"),
        cost=Decimal("1.05"),
        cost_basis="provider-reported",
        trained_tokens=2_187_500,
        created_at=now - timedelta(hours=5),
        started_at=now - timedelta(hours=5) + timedelta(minutes=10),
        finished_at=now - timedelta(hours=3),
    )
    _events(session, succeeded, ["queued", "running", "succeeded"], now - timedelta(hours=5))
    _curves(session, succeeded, LOSS_STEPS)
    for step in (10, 20):
        session.add(
            Checkpoint(
                tenant_id=acme.id,
                job_id=succeeded.id,
                step=step,
                provider_checkpoint_id=f"ckpt-{step}",
                fine_tuned_model_checkpoint=f"acme/llama-ft-1:ckpt-step-{step}",
                metrics={"train_loss": train_loss(step)},
            )
        )
    _ledger(session, succeeded, "1.05", now - timedelta(hours=3))

    failed = _job(
        session,
        globex,
        globex_file,
        provider="fireworks",
        model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        status="failed",
        provider_status="JOB_STATE_FAILED",
        provider_job_id="fw-seeded-1",
        estimated_cost=Decimal("0.80"),
        error={"code": "invalid_training_file", "message": "Line 12: messages is empty."},
        created_at=now - timedelta(hours=4),
        finished_at=now - timedelta(hours=2),
    )
    _events(session, failed, ["queued", "running", "failed"], now - timedelta(hours=4))

    queued = _job(
        session,
        globex,
        globex_file,
        provider="local",
        model="tiny-llama",
        status="queued",
        estimated_cost=Decimal("0.05"),
        created_at=now - timedelta(minutes=3),
        launch_attempts=2,
        next_poll_at=now + timedelta(minutes=10),
    )
    _events(session, queued, ["queued"], now - timedelta(minutes=3))
    session.add(
        JobEvent(
            tenant_id=globex.id,
            job_id=queued.id,
            level="warn",
            message="Launch attempt 2 failed (GPU host unreachable); retrying in 10 minutes",
            created_at=now - timedelta(minutes=1),
        )
    )

    cancelled = _job(
        session,
        acme,
        acme_file,
        provider="mistral",
        model="open-mistral-7b",
        status="cancelled",
        provider_job_id="mistral-seeded-1",
        created_at=now - timedelta(days=2),
        finished_at=now - timedelta(days=2) + timedelta(hours=1),
    )
    _events(session, cancelled, ["queued", "cancelled"], now - timedelta(days=2))

    for i in range(FILLER_JOBS):
        filler = _job(
            session,
            globex,
            globex_file,
            provider="openai",
            model="gpt-4.1-mini-2025-04-14",
            status="succeeded",
            provider_job_id=f"ftjob-filler-{i}",
            estimated_cost=Decimal("0.50"),
            cost=Decimal("0.55"),
            created_at=last_month - timedelta(hours=i),
            finished_at=last_month - timedelta(hours=i) + timedelta(minutes=20),
        )
        _ledger(session, filler, "0.55", last_month - timedelta(hours=i))

    endpoint = WebhookEndpoint(
        tenant_id=acme.id,
        url="http://127.0.0.1:9/acme-hooks",
        description="acme production receiver",
        events=[],
        secret="whsec_c2VlZGVkLXNlY3JldC1mb3ItdGVzdHM=",
    )
    disabled = WebhookEndpoint(
        tenant_id=globex.id,
        url="http://127.0.0.1:9/globex-hooks",
        description="globex staging",
        events=["fine_tuning.job.failed"],
        secret="whsec_c2VlZGVkLXNlY3JldC1mb3ItdGVzdHM=",
        enabled=False,
        disabled_reason="Disabled after failing for 5 days (last: HTTP 503).",
        failing_since=now - timedelta(days=5),
    )
    session.add_all([endpoint, disabled])
    session.flush()
    delivered = _delivery(session, endpoint, succeeded, "fine_tuning.job.succeeded", "delivered")
    session.add(
        WebhookAttempt(
            tenant_id=acme.id,
            delivery_id=delivered.id,
            status_code=200,
            latency_ms=42,
            response_excerpt="ok",
            attempted_at=now - timedelta(hours=3),
        )
    )
    failing = _delivery(session, endpoint, running, "fine_tuning.job.running", "failed")
    for code, error in ((500, "HTTP 500"), (None, "timed out after 15s")):
        session.add(
            WebhookAttempt(
                tenant_id=acme.id,
                delivery_id=failing.id,
                status_code=code,
                latency_ms=15000 if code is None else 80,
                error=error,
                attempted_at=now - timedelta(minutes=20),
            )
        )
    session.flush()
    return Seeded(
        admin_key=admin_key,
        user_key=user_key,
        acme=acme,
        globex=globex,
        running_job_id=running.id,
        succeeded_job_id=succeeded.id,
        failed_job_id=failed.id,
        queued_job_id=queued.id,
        failed_delivery_id=failing.id,
    )


def _delivery(
    session: Session, endpoint: WebhookEndpoint, job: Job, event_type: str, status: str
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        job_id=job.id,
        event_id=f"evt_{job.id[-8:]}_{status}",
        event_type=event_type,
        url=endpoint.url,
        payload={"type": event_type, "data": {"id": job.id}},
        status=status,
        attempts=1 if status == "delivered" else 2,
        last_status_code=200 if status == "delivered" else None,
        last_error=None if status == "delivered" else "timed out after 15s",
        delivered_at=utcnow() if status == "delivered" else None,
    )
    session.add(delivery)
    session.flush()
    return delivery
