"""Spend from the cost ledger, grouped by provider, model, tenant or UTC month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, case, func
from sqlalchemy.orm import Session

from service.billing.repository import GroupKey, LedgerRepository
from service.db.models import CostLedgerEntry

GroupBy = Literal["provider", "model", "tenant", "month", "kind"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)


@dataclass(frozen=True)
class UsageRow:
    key: str
    currency: str
    amount: Decimal
    entries: int
    billed_tokens: int

    def to_dict(self, group_by: GroupBy) -> dict[str, Any]:
        return {
            group_by: self.key,
            "amount": str(self.amount),
            "currency": self.currency,
            "entries": self.entries,
            "billed_tokens": self.billed_tokens,
        }


def _month_key(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", CostLedgerEntry.occurred_at), "YYYY-MM")
    # SQLite keeps UTC text ("YYYY-MM-DD HH:MM:SS..."), see service.db.types.UTCDateTime.
    return func.substr(CostLedgerEntry.occurred_at, 1, 7)


def _group_key(group_by: GroupBy, dialect: str) -> GroupKey:
    if group_by == "provider":
        return CostLedgerEntry.provider
    if group_by == "model":
        # Two providers may share a model name; keep them apart. A job named its model with the
        # provider's prefix ("together/Qwen/…") or beside a "provider" field ("Qwen/…"): one key.
        prefix = CostLedgerEntry.provider + "/"
        return case(
            (CostLedgerEntry.model == "", CostLedgerEntry.provider),  # e.g. a run's judges only
            (CostLedgerEntry.model.startswith(prefix), CostLedgerEntry.model),
            else_=prefix + CostLedgerEntry.model,
        )
    if group_by == "tenant":
        return CostLedgerEntry.tenant_id
    if group_by == "kind":  # what the money bought: training, evaluation, ...
        return CostLedgerEntry.kind
    return _month_key(dialect)


def usage_report(
    session: Session,
    *,
    group_by: GroupBy,
    tenant_id: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[UsageRow]:
    """Ledger spend in [start, end) per group and currency; ``tenant_id=None`` covers every
    tenant (admin views). Model keys are ``provider/model``; month keys ``YYYY-MM`` (UTC)."""
    dialect = session.get_bind().dialect.name
    rows = LedgerRepository(session).usage_rows(
        _group_key(group_by, dialect), tenant_id, start, end
    )
    return [
        UsageRow(str(key), currency, amount, n, tokens) for key, currency, amount, n, tokens in rows
    ]


def totals(rows: list[UsageRow]) -> list[dict[str, str]]:
    by_currency: dict[str, Decimal] = {}
    for row in rows:
        by_currency[row.currency] = by_currency.get(row.currency, Decimal(0)) + row.amount
    return [{"amount": str(v), "currency": k} for k, v in sorted(by_currency.items())]
