"""SQL for the cost ledger, the spend that counts against a budget, and usage."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from providers.base import JobStatus
from service.db.models import CostLedgerEntry, EvalRun, Job, Study, TenantBudget

ACTIVE_STATUSES = tuple(s for s in JobStatus if not s.is_terminal)
ACTIVE_RUN_STATUSES = ("queued", "in_progress")
QUOTING_STUDY_STATUSES = ("queued", "training")
"""Studies whose quote is not yet held by jobs and eval runs: queued (nothing launched) and
training (the jobs exist; the eval runs do not yet). ``service.studies.schemas.StudyStatus``'s
values, spelt here so billing does not import the studies domain."""

GroupKey = ColumnElement[Any] | InstrumentedAttribute[str]


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def entry_for(self, job_id: str, kind: str) -> CostLedgerEntry | None:
        return self.session.scalars(
            select(CostLedgerEntry).where(
                CostLedgerEntry.job_id == job_id, CostLedgerEntry.kind == kind
            )
        ).first()

    def add(self, entry: CostLedgerEntry) -> None:
        """Inside a savepoint, so a concurrent booking's unique violation undoes only this."""
        with self.session.begin_nested():
            self.session.add(entry)
            self.session.flush()

    def add_all(self, entries: list[CostLedgerEntry]) -> None:
        """All or none, inside one savepoint (as ``add``)."""
        with self.session.begin_nested():
            self.session.add_all(entries)
            self.session.flush()

    def budget_of(self, tenant_id: str) -> TenantBudget | None:
        return self.session.get(TenantBudget, tenant_id)

    def budget_for_update(self, tenant_id: str) -> TenantBudget | None:
        """Locks the budget row (PostgreSQL) so two jobs of one tenant are checked in turn."""
        return self.session.scalars(
            select(TenantBudget).where(TenantBudget.tenant_id == tenant_id).with_for_update()
        ).first()

    def booked_between(
        self, tenant_id: str, currency: str, start: datetime, end: datetime
    ) -> Decimal:
        # Money is stored as micro-dollars; summing the raw integers keeps the total exact.
        total = self.session.scalar(
            select(func.coalesce(func.sum(CostLedgerEntry.amount), 0)).where(
                CostLedgerEntry.tenant_id == tenant_id,
                CostLedgerEntry.currency == currency,
                CostLedgerEntry.occurred_at >= start,
                CostLedgerEntry.occurred_at < end,
            )
        )
        return total if isinstance(total, Decimal) else Decimal(0)

    def active_estimates(self, tenant_id: str, exclude_job_id: str | None = None) -> Decimal:
        """Estimates of the tenant's jobs and eval runs that have not finished, hence not
        booked yet."""
        query = select(func.coalesce(func.sum(Job.estimated_cost), 0)).where(
            Job.tenant_id == tenant_id, Job.status.in_(ACTIVE_STATUSES)
        )
        if exclude_job_id is not None:
            query = query.where(Job.id != exclude_job_id)
        total = self.session.scalar(query)
        runs = self.session.scalar(
            select(func.coalesce(func.sum(EvalRun.estimated_cost), 0)).where(
                EvalRun.tenant_id == tenant_id, EvalRun.status.in_(ACTIVE_RUN_STATUSES)
            )
        )
        return (total if isinstance(total, Decimal) else Decimal(0)) + (
            runs if isinstance(runs, Decimal) else Decimal(0)
        )

    def unspent_study_quotes(self, tenant_id: str, exclude_study_id: str | None = None) -> Decimal:
        """What the tenant's unfinished studies (a job's attached evaluation included) have
        been quoted that no job or eval run holds yet: a queued study's whole quote (its jobs
        are not launched); a training one's parts other than training (its evaluation and
        judge calls; the jobs count their own estimates). Once evaluating, its eval runs count
        their own estimates. ``exclude_study_id``: the study launching its own jobs or runs."""
        query = select(Study.id, Study.status, Study.quote).where(
            Study.tenant_id == tenant_id, Study.status.in_(QUOTING_STUDY_STATUSES)
        )
        if exclude_study_id is not None:
            query = query.where(Study.id != exclude_study_id)
        total = Decimal(0)
        for _, status, quote in self.session.execute(query):
            for part in (quote or {}).get("parts", []):
                amount = part.get("amount")
                if amount is None or (part.get("kind") == "training" and status != "queued"):
                    continue
                total += Decimal(str(amount))
        return total

    def usage_rows(
        self,
        group: GroupKey,
        tenant_id: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[tuple[Any, str, Decimal, int, int]]:
        """(group key, currency, amount, entries, billed tokens), ordered by key."""
        query = select(
            group.label("key"),
            CostLedgerEntry.currency,
            func.sum(CostLedgerEntry.amount),
            func.count(CostLedgerEntry.id),
            func.coalesce(func.sum(CostLedgerEntry.billed_tokens), 0),
        )
        if tenant_id is not None:
            query = query.where(CostLedgerEntry.tenant_id == tenant_id)
        if start is not None:
            query = query.where(CostLedgerEntry.occurred_at >= start)
        if end is not None:
            query = query.where(CostLedgerEntry.occurred_at < end)
        query = query.group_by(group, CostLedgerEntry.currency).order_by(
            group, CostLedgerEntry.currency
        )
        return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in self.session.execute(query)]
