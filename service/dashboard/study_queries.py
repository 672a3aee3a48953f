"""Read-only SQL and shaping for the studies pages, across every tenant: the newest studies, one
study with its leaderboard, and the quality-vs-monthly-cost chart drawn from that leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Study, Tenant

MAX_STUDIES = 100


@dataclass(frozen=True)
class StudyRow:
    study: Study
    tenant_name: str


def _rows(study: Study) -> list[dict[str, Any]]:
    return [row for row in study.leaderboard or [] if isinstance(row, dict)]


def cost_quality_chart(study: Study) -> dict[str, Any]:
    """One point per leaderboard row that has both a primary score and a monthly cost: x the
    monthly cost in USD at the study's volume, y the primary score."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in _rows(study):
        primary, monthly = row.get("primary") or {}, row.get("monthly_cost")
        if monthly is None or primary.get("value") is None:
            continue
        label = f"{row.get('role', '')}: {row.get('label', row.get('model', ''))}"
        series[label] = [(float(monthly), float(primary["value"]))]
    return {
        "id": "cost-quality",
        "title": "Primary score vs monthly cost",
        "kind": "scatter",
        "x_title": "USD per month at the stated volume",
        "y_title": str(study.spec.get("primary", "primary score")),
        "series": series,
    }


def winner_and_best_baseline(study: Study) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The leaderboard rows of the verdict's winner (None on ``no_improvement``) and of the best
    baseline it was measured against."""
    verdict = study.verdict or {}
    winner_label = (verdict.get("winner") or {}).get("label")
    best_label = (verdict.get("evidence") or {}).get("best_baseline")
    rows = _rows(study)
    winner = next((r for r in rows if r.get("label") == winner_label), None)
    best = next(
        (r for r in rows if r.get("role") == "baseline" and r.get("label") == best_label), None
    )
    return winner, best


class DashboardStudyQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def studies(self) -> list[StudyRow]:
        rows = self.session.execute(
            select(Study, Tenant.name)
            .join(Tenant, Tenant.id == Study.tenant_id)
            .order_by(Study.created_at.desc(), Study.id.desc())
            .limit(MAX_STUDIES)
        ).all()
        return [StudyRow(study, name) for study, name in rows]

    def study(self, study_id: str) -> StudyRow | None:
        row = self.session.execute(
            select(Study, Tenant.name)
            .join(Tenant, Tenant.id == Study.tenant_id)
            .where(Study.id == study_id)
        ).first()
        return None if row is None else StudyRow(row[0], row[1])
