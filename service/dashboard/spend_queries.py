"""Spend per month by provider, model and tenant (from billing's usage report), and how close
the estimates made at job creation came to what was finally booked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.billing.budget import month_bounds
from service.billing.usage import GroupBy, usage_report
from service.db.models import Job, Tenant

DIMENSIONS: tuple[GroupBy, ...] = ("kind", "provider", "model", "tenant")
ACCURACY_LIMIT = 5000


@dataclass
class SpendTable:
    """``cells[key][month]`` is the amount; one table per dimension, one currency per table row
    (keys are ``"<key> (<currency>)"`` only when a key was billed in several currencies)."""

    dimension: str
    months: list[str]
    cells: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def row_total(self, key: str) -> Decimal:
        return sum(self.cells[key].values(), Decimal(0))

    def month_total(self, month: str) -> Decimal:
        return sum((row.get(month, Decimal(0)) for row in self.cells.values()), Decimal(0))


@dataclass(frozen=True)
class EstimateAccuracy:
    provider: str
    jobs: int
    estimated: Decimal
    actual: Decimal
    mean_abs_error_pct: float | None  # mean of |actual - estimate| / estimate, in percent

    @property
    def ratio(self) -> float | None:
        return float(self.actual / self.estimated) if self.estimated > 0 else None


def recent_months(now: datetime, count: int) -> list[tuple[str, datetime, datetime]]:
    """The last ``count`` UTC months up to ``now``'s, oldest first, as (``YYYY-MM``, start, end)."""
    now = now.astimezone(UTC)
    months: list[tuple[str, datetime, datetime]] = []
    for back in range(count - 1, -1, -1):
        index = now.year * 12 + now.month - 1 - back
        start, end = month_bounds(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))
        months.append((f"{start.year:04d}-{start.month:02d}", start, end))
    return months


class SpendQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def tables(self, months: list[tuple[str, datetime, datetime]]) -> list[SpendTable]:
        names = {row[0]: row[1] for row in self.session.execute(select(Tenant.id, Tenant.name))}
        tables: list[SpendTable] = []
        for dimension in DIMENSIONS:
            table = SpendTable(dimension, [label for label, _, _ in months])
            for label, start, end in months:
                rows = usage_report(
                    self.session, group_by=dimension, tenant_id=None, start=start, end=end
                )
                for row in rows:
                    key = names.get(row.key, row.key) if dimension == "tenant" else row.key
                    if row.currency != "USD":
                        key = f"{key} ({row.currency})"
                    table.cells.setdefault(key, {})[label] = row.amount
            tables.append(table)
        return tables

    def estimate_accuracy(self, since: datetime) -> list[EstimateAccuracy]:
        """Finished jobs since ``since`` that had both an estimate and a booked cost."""
        rows = self.session.execute(
            select(Job.provider, Job.estimated_cost, Job.cost)
            .where(
                Job.estimated_cost.is_not(None),
                Job.cost.is_not(None),
                Job.finished_at >= since,
            )
            .order_by(Job.finished_at.desc())
            .limit(ACCURACY_LIMIT)
        )
        grouped: dict[str, list[tuple[Decimal, Decimal]]] = {}
        for provider, estimated, actual in rows:
            if estimated is None or actual is None:
                continue
            grouped.setdefault(str(provider), []).append((estimated, actual))
        result: list[EstimateAccuracy] = []
        for provider, pairs in sorted(grouped.items()):
            errors = [float(abs(a - e) / e) * 100 for e, a in pairs if e > 0]
            result.append(
                EstimateAccuracy(
                    provider=provider,
                    jobs=len(pairs),
                    estimated=sum((e for e, _ in pairs), Decimal(0)),
                    actual=sum((a for _, a in pairs), Decimal(0)),
                    mean_abs_error_pct=sum(errors) / len(errors) if errors else None,
                )
            )
        return result
