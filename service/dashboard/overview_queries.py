"""Read-only SQL for the overview: counts, what runs now, what failed, spend against budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.billing.budget import budget_status, month_bounds
from service.billing.usage import usage_report
from service.db.models import Job, Metric, Tenant
from service.jobs.transitions import ACTIVE

RUNNING_LIMIT = 50
FAILURE_LIMIT = 50


@dataclass(frozen=True)
class RunningJob:
    job: Job
    tenant_name: str
    last_step: int | None
    last_train_loss: float | None


@dataclass(frozen=True)
class FailedJob:
    job: Job
    tenant_name: str

    @property
    def reason(self) -> str:
        error = self.job.error or {}
        return str(error.get("message") or error.get("code") or "no reason recorded")


@dataclass(frozen=True)
class TenantSpend:
    tenant_id: str
    tenant_name: str
    booked: Decimal  # ledger entries this month, in the budget's currency when there is one
    committed: Decimal  # estimates of still-active jobs
    monthly_limit: Decimal | None
    currency: str

    @property
    def used_fraction(self) -> float | None:
        if self.monthly_limit is None or self.monthly_limit <= 0:
            return None
        return float((self.booked + self.committed) / self.monthly_limit)


class OverviewQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def counts_by_status(self) -> dict[str, int]:
        rows = self.session.execute(select(Job.status, func.count()).group_by(Job.status))
        return {str(status): int(n) for status, n in rows}

    def counts_by_provider_status(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        rows = self.session.execute(
            select(Job.provider, Job.status, func.count()).group_by(Job.provider, Job.status)
        )
        for provider, status, n in rows:
            table.setdefault(str(provider), {})[str(status)] = int(n)
        return dict(sorted(table.items()))

    def running(self) -> list[RunningJob]:
        jobs = self.session.execute(
            select(Job, Tenant.name)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(Job.status == JobStatus.RUNNING)
            .order_by(Job.started_at.desc().nulls_last(), Job.id)
            .limit(RUNNING_LIMIT)
        ).all()
        latest = self._latest_train_loss([job.id for job, _ in jobs])
        return [RunningJob(job, name, *latest.get(job.id, (None, None))) for job, name in jobs]

    def _latest_train_loss(self, job_ids: list[str]) -> dict[str, tuple[int, float]]:
        if not job_ids:
            return {}
        last_step = (
            select(Metric.job_id, func.max(Metric.step).label("step"))
            .where(Metric.job_id.in_(job_ids), Metric.name == "train_loss")
            .group_by(Metric.job_id)
            .subquery()
        )
        rows = self.session.execute(
            select(Metric.job_id, Metric.step, Metric.value)
            .join(
                last_step,
                (Metric.job_id == last_step.c.job_id) & (Metric.step == last_step.c.step),
            )
            .where(Metric.name == "train_loss")
        )
        return {str(job_id): (int(step), float(value)) for job_id, step, value in rows}

    def active_jobs_by_model(self) -> dict[tuple[str, str], int]:
        """Unfinished jobs per (provider, model): who is hit when a model closes."""
        rows = self.session.execute(
            select(Job.provider, Job.model, func.count())
            .where(Job.status.in_(ACTIVE))
            .group_by(Job.provider, Job.model)
        )
        return {(str(provider), str(model)): int(n) for provider, model, n in rows}

    def failures_since(self, since: datetime) -> list[FailedJob]:
        rows = self.session.execute(
            select(Job, Tenant.name)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(Job.status == JobStatus.FAILED, Job.finished_at >= since)
            .order_by(Job.finished_at.desc())
            .limit(FAILURE_LIMIT)
        ).all()
        return [FailedJob(job, name) for job, name in rows]

    def spend_this_month(self, now: datetime) -> list[TenantSpend]:
        """Every tenant with a budget or with spend this month, most used budget first."""
        start, end = month_bounds(now)
        booked: dict[str, tuple[Decimal, str]] = {}
        for row in usage_report(
            self.session, group_by="tenant", tenant_id=None, start=start, end=end
        ):
            # A tenant billed in two currencies shows its larger one here; Spend lists both.
            if row.key not in booked or row.amount > booked[row.key][0]:
                booked[row.key] = (row.amount, row.currency)
        result: list[TenantSpend] = []
        for tenant_id, name in self.session.execute(select(Tenant.id, Tenant.name)):
            status = budget_status(self.session, tenant_id, now)
            if status is None and tenant_id not in booked:
                continue
            if status is not None:
                result.append(
                    TenantSpend(
                        tenant_id,
                        name,
                        status.booked,
                        status.committed,
                        status.monthly_limit,
                        status.currency,
                    )
                )
            else:
                amount, currency = booked[tenant_id]
                result.append(TenantSpend(tenant_id, name, amount, Decimal(0), None, currency))
        return sorted(result, key=lambda s: (-(s.used_fraction or -1.0), -s.booked, s.tenant_name))


def day_ago(now: datetime) -> datetime:
    return now - timedelta(hours=24)
