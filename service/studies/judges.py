"""The judges' part of a study's quote: one part per judge model of a ``score_model`` or
``label_model`` criterion — its calls over every evaluated model's items (each run's own
prompt, a baseline's system prompt and shots included), each sampled answer as long as the
longest ideal one, at the judge's own inference price (``service.evals.runs.judge_costs``).
An unknown judge model is a 400 naming its criterion's field."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.evals.runs.costs import CHARS_PER_TOKEN_BOUND, run_routes
from service.evals.runs.judge_costs import judge_cost, judge_tokens
from service.settings import Settings
from service.studies.items import TestItem

CENTS = Decimal("0.000001")


def quote_judges(
    session: Session,
    settings: Settings,
    tenant_id: str,
    criteria: list[dict[str, Any]],
    items: Sequence[TestItem],
    prefixes: Sequence[Sequence[dict[str, Any]]],
) -> list[tuple[str, str, Decimal | None, str]]:
    """(provider, judge model, amount or None when unpriced, detail) per judge model;
    ``prefixes`` holds each evaluated model's prompt prefix (empty for a tuned candidate)."""
    routes = {r.requested: r for r in run_routes(session, settings, tenant_id, None, criteria)}
    if not routes or not items:
        return []
    answer = math.ceil(max(len(i.ideal) for i in items) / CHARS_PER_TOKEN_BOUND)
    rows = [
        ({"messages": [*prefix, *i.messages], "ideal": i.ideal}, answer)
        for prefix in prefixes
        for i in items
    ]
    quoted = []
    for used in judge_tokens(criteria, rows):
        route = routes[used.model]
        cost = judge_cost(route, used)
        detail = f"{used.describe()}: {len(items)} items x {len(prefixes)} evaluated models"
        if cost is None:
            detail += "; no serving price in the catalog"
        amount = None if cost is None else cost.quantize(CENTS, ROUND_HALF_UP)
        quoted.append((route.provider, used.model, amount, detail))
    return quoted
