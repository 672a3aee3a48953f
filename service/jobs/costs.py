"""The seam between jobs and billing: the three calls the job lifecycle makes into
``service.billing`` (estimate at create, budget check before anything is queued, booking the
actual cost when a job ends). Jobs never compute money themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service import billing
from service.billing import CostEstimate
from service.db.models import Job
from service.db.types import utcnow
from service.settings import Settings


@dataclass(frozen=True)
class FinalUsage:
    """What the provider (or the local trainer) reported about a finished job."""

    trained_tokens: int | None = None
    provider_cost: Decimal | None = None
    provider_currency: str | None = None
    duration_s: float | None = None


def estimate_cost(
    session: Session,
    settings: Settings,
    *,
    provider: str,
    model: str,
    training_report: dict[str, Any],
    validation_report: dict[str, Any] | None,
    hyperparameters: dict[str, Any],
) -> CostEstimate:
    return billing.estimate_job_cost(
        training_report, provider, model, hyperparameters, validation_report, settings
    )


def check_budget(
    session: Session,
    settings: Settings,
    tenant_id: str,
    estimate: Decimal | None,
    *,
    quoted_by_study: str | None = None,
) -> None:
    """Raises ``budget_exceeded`` (400) when ``estimate`` exceeds what is left this month
    (``quoted_by_study``: the study launching this job, whose quote held it until now)."""
    billing.ensure_within_budget(
        session, tenant_id, estimate, utcnow(), exclude_study_id=quoted_by_study
    )


def book_final_cost(
    session: Session,
    settings: Settings,
    job: Job,
    usage: FinalUsage,
    *,
    now: datetime | None = None,
) -> None:
    """Book the job's actual cost into the ledger (once; on its terminal transition)."""
    billing.book_final_cost(
        session,
        job,
        settings=settings,
        trained_tokens=usage.trained_tokens,
        provider_reported_cost=usage.provider_cost,
        provider_reported_currency=usage.provider_currency,
        duration_s=usage.duration_s,
        now=now,
    )
