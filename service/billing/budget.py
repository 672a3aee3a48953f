"""Monthly budgets: a job whose estimate would exceed what is left is refused before launch.

What counts as spent this month (UTC calendar month): every ledger entry booked this month
in the budget's currency, plus what is committed: the estimates of the tenant's jobs and eval
runs that are still active, whenever they were created — they will be booked when they
finish — and the quotes of its unfinished studies (a job's evaluation included) that no job or
run holds yet. Counting them stops many creates at once from together overshooting the
budget. The check locks the tenant's budget row (PostgreSQL), so two
creates of one tenant are checked one after the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.billing.repository import LedgerRepository
from service.errors import InvalidRequest


class BudgetExceeded(InvalidRequest):
    default_code = "budget_exceeded"


@dataclass(frozen=True)
class BudgetStatus:
    monthly_limit: Decimal
    currency: str
    booked: Decimal  # ledger entries this month
    committed: Decimal  # active jobs' and runs' estimates, unfinished studies' unspent quotes
    period_start: datetime
    period_end: datetime

    @property
    def remaining(self) -> Decimal:
        return self.monthly_limit - self.booked - self.committed

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "budget",
            "monthly_limit": str(self.monthly_limit),
            "currency": self.currency,
            "booked": str(self.booked),
            "committed": str(self.committed),
            "remaining": str(self.remaining),
            "period_start": int(self.period_start.timestamp()),
            "period_end": int(self.period_end.timestamp()),
        }


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """[first instant of ``now``'s UTC month, first instant of the next)."""
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def budget_status(
    session: Session,
    tenant_id: str,
    now: datetime,
    *,
    exclude_job_id: str | None = None,
    exclude_study_id: str | None = None,
    lock: bool = False,
) -> BudgetStatus | None:
    """None when the tenant has no budget (unlimited). ``exclude_study_id``: a study
    launching its jobs or eval runs, whose quote these take over."""
    repo = LedgerRepository(session)
    budget = repo.budget_for_update(tenant_id) if lock else repo.budget_of(tenant_id)
    if budget is None:
        return None
    start, end = month_bounds(now)
    return BudgetStatus(
        monthly_limit=budget.monthly_limit,
        currency=budget.currency,
        booked=repo.booked_between(tenant_id, budget.currency, start, end),
        committed=repo.active_estimates(tenant_id, exclude_job_id)
        + repo.unspent_study_quotes(tenant_id, exclude_study_id),
        period_start=start,
        period_end=end,
    )


def ensure_within_budget(
    session: Session,
    tenant_id: str,
    estimate: Decimal | None,
    now: datetime,
    *,
    exclude_job_id: str | None = None,
    exclude_study_id: str | None = None,
) -> None:
    """Raises ``BudgetExceeded`` (HTTP 400, code ``budget_exceeded``) when ``estimate`` is more
    than what is left of the tenant's monthly budget. Call it before the new job's row is
    flushed, or pass its id as ``exclude_job_id`` so its own estimate is not counted twice.
    An unknown estimate (None) passes while something is left. No budget: always passes.
    ``exclude_study_id``: the study whose quote already holds this spend (it launches it)."""
    status = budget_status(
        session,
        tenant_id,
        now,
        exclude_job_id=exclude_job_id,
        exclude_study_id=exclude_study_id,
        lock=True,
    )
    if status is None:
        return
    remaining = status.remaining
    over = remaining <= 0 if estimate is None else estimate > remaining
    if not over:
        return
    shown = "an unknown amount" if estimate is None else f"{estimate} {status.currency}"
    raise BudgetExceeded(
        f"This job's estimated cost ({shown}) exceeds what is left of the monthly budget: "
        f"{max(remaining, Decimal(0))} of {status.monthly_limit} {status.currency} "
        f"({status.booked} booked this month, {status.committed} committed by active jobs, eval "
        f"runs and studies).",
        param="budget",
        extra={
            "budget": status.to_dict(),
            "estimated_cost": None if estimate is None else str(estimate),
        },
    )
