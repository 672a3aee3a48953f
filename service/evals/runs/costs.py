"""What a run costs: its inference tokens (sampling and judges) × the catalog's inference
prices of each model, booked once in the ledger as ``evaluation``; and the upper bound a run is
checked against the tenant's budget with before it starts, its sampling and each judge named as
their own parts."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.billing.estimate import QUANTUM
from service.billing.repository import LedgerRepository
from service.db.models import CostLedgerEntry, Eval, EvalRun
from service.errors import InvalidRequest
from service.evals.graders.sample import Sample
from service.evals.runs.items import SamplingPlan, prompt_for
from service.evals.runs.judge_costs import judge_cost, judge_tokens
from service.evals.runs.routing import ModelRoute, inference_cost, judge_models, route_model
from service.settings import Settings

EVALUATION = "evaluation"
BASIS = "tokens_x_inference_price"
DEFAULT_MAX_COMPLETION_TOKENS = 1024
"""The completion length an estimate assumes when the run sets no max_completion_tokens."""
CHARS_PER_TOKEN_BOUND = 3
"""Prompt tokens are estimated as characters / 3 (rounded up): above what tokenizers count
for English, so the estimate stays an upper bound."""


def run_routes(
    session: Session, settings: Settings, tenant_id: str, model: str | None, criteria: list[Any]
) -> list[ModelRoute]:
    """The sampled model's route and every judge's (400 naming the field for an unknown one)."""
    routes = []
    if model is not None:
        routes.append(route_model(session, settings, tenant_id, model, "data_source.model"))
    for judge, param in judge_models(criteria):
        routes.append(route_model(session, settings, tenant_id, judge, param))
    return routes


@dataclass(frozen=True)
class ProviderSpend:
    """What the models of one provider used in a run (the sampled model's, a judge's), at
    their prices."""

    provider: str
    models: tuple[str, ...]
    amount: Decimal
    tokens: int


def spend_by_provider(
    routes: list[ModelRoute], per_model_usage: list[dict[str, Any]]
) -> list[ProviderSpend] | None:
    """Each provider's tokens × its models' prices (quantized), the sampled model's provider
    first, then the judges' in the order they are named; None when any used model is
    unpriced."""
    by_name: dict[str, ModelRoute] = {}
    rank: dict[str, int] = {}
    for index, route in enumerate(routes):
        by_name.setdefault(route.model, route)
        by_name.setdefault(route.requested, route)
        rank.setdefault(route.provider, index)
    found: dict[str, ProviderSpend] = {}
    for used in per_model_usage:
        prompt, completion = (
            int(used.get("prompt_tokens", 0)),
            int(used.get("completion_tokens", 0)),
        )
        if prompt + completion == 0:
            continue
        priced = by_name.get(str(used.get("model_name")))
        cost = None if priced is None else inference_cost(priced, prompt, completion)
        if priced is None or cost is None:
            return None
        name, provider = priced.requested, priced.provider
        before = found.get(provider, ProviderSpend(provider, (), Decimal(0), 0))
        models = before.models + (() if name in before.models else (name,))
        found[provider] = ProviderSpend(
            provider, models, before.amount + cost, before.tokens + prompt + completion
        )
    ordered = sorted(found.values(), key=lambda s: rank.get(s.provider, len(routes)))
    return [replace(s, amount=s.amount.quantize(QUANTUM)) for s in ordered]


def usage_cost(routes: list[ModelRoute], per_model_usage: list[dict[str, Any]]) -> Decimal | None:
    """The tokens of every model used × its prices; None when any used model is unpriced."""
    spends = spend_by_provider(routes, per_model_usage)
    if spends is None:
        return None
    return sum((s.amount for s in spends), Decimal(0)).quantize(QUANTUM)


def book_run_cost(
    session: Session,
    settings: Settings,
    run: EvalRun,
    per_model_usage: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Sets ``run.cost`` and books it once (unique on run, kind and provider): one entry per
    provider whose models the run used, a judge's tokens under the judge's provider; unpriced:
    cost null and nothing booked (nor is a zero cost)."""
    evaluation = session.get(Eval, run.eval_id)
    criteria = evaluation.testing_criteria if evaluation is not None else []
    try:
        routes = run_routes(session, settings, run.tenant_id, run.model, criteria)
    except InvalidRequest:
        routes = []  # a model no longer routable (its job deleted): nothing to price it by
    if run.deployment is not None and routes:
        # the samples name the deployed copy: priced as the tuned model it serves
        routes.append(replace(routes[0], model=str(run.deployment.get("model_to_call"))))
    spends = spend_by_provider(routes, per_model_usage)
    if spends is None:
        run.cost = None
        return
    run.cost = sum((s.amount for s in spends), Decimal(0)).quantize(QUANTUM)
    entries = [
        CostLedgerEntry(
            tenant_id=run.tenant_id,
            eval_run_id=run.id,
            provider=spend.provider,
            model=", ".join(spend.models)[:255],
            kind=EVALUATION,
            amount=spend.amount,
            currency="USD",
            basis=BASIS,
            billed_tokens=spend.tokens,
            occurred_at=now,
        )
        for spend in spends
        if spend.amount > 0
    ]
    # booked already (a duplicate settle): the first entries stand
    with contextlib.suppress(IntegrityError):
        LedgerRepository(session).add_all(entries)


@dataclass(frozen=True)
class EstimatePart:
    kind: str  # sampling | judge
    model: str
    amount: Decimal | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "amount": None if self.amount is None else format(self.amount, "f"),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RunEstimate:
    """The upper bound a run is checked against the budget with, part by part: the sampled
    model's (with its deployment's hosting) and each judge model's."""

    parts: list[EstimatePart] = field(default_factory=list)

    @property
    def total(self) -> Decimal | None:
        """None when any part is unpriced."""
        amounts = [p.amount for p in self.parts]
        if any(a is None for a in amounts):
            return None
        return sum((a for a in amounts if a is not None), Decimal(0)).quantize(QUANTUM)

    def summary(self) -> str:
        return "; ".join(
            f"{p.kind} {p.model} {'unknown' if p.amount is None else format(p.amount, 'f')}"
            for p in self.parts
        )


def _prompt_tokens(plan: SamplingPlan, item: dict[str, Any]) -> int:
    try:
        messages = prompt_for(plan, item)
    except ValueError:
        messages = []
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN_BOUND) + 4 * len(messages)


def _item(row: dict[str, Any]) -> dict[str, Any]:
    item = row.get("item")
    return item if isinstance(item, dict) else {}


def _supplied_answer_tokens(row: dict[str, Any]) -> int:
    raw = row.get("sample")
    text = Sample.from_row(raw).output_text if isinstance(raw, dict) else ""
    return math.ceil(len(text) / CHARS_PER_TOKEN_BOUND)


def estimate_run_cost(
    routes: list[ModelRoute],
    plan: SamplingPlan | None,
    rows: list[tuple[int, dict[str, Any]]],
    hosting_hours: Decimal = Decimal(1),
    criteria: list[dict[str, Any]] | None = None,
) -> RunEstimate:
    """Upper bound of the run's cost: items × (prompt estimate + max completion tokens) at the
    sampled model's prices, plus ``hosting_hours`` of its dedicated deployment when it needs
    one; and each judge's tokens (``judge_costs``, the sampled answers at their max length) at
    the judge's prices. A part is None when unpriced; nothing sampled, no sampling part."""
    parts: list[EstimatePart] = []
    completion = (plan.max_completion_tokens if plan else None) or DEFAULT_MAX_COMPLETION_TOKENS
    judged_routes = routes
    if plan is not None and routes:
        route, judged_routes = routes[0], routes[1:]
        hosting = (
            route.hosting_per_hour * hosting_hours
            if route.dedicated and route.hosting_per_hour is not None
            else Decimal(0)
        )
        prompt_tokens = sum(_prompt_tokens(plan, _item(row)) for _, row in rows)
        cost = inference_cost(route, prompt_tokens, completion * len(rows))
        detail = f"{len(rows)} items x (prompt estimate + {completion} completion tokens)"
        if hosting:
            detail += f" + {hosting_hours} h of its dedicated deployment"
        parts.append(
            EstimatePart(
                "sampling",
                route.requested,
                None if cost is None else (cost + hosting).quantize(QUANTUM),
                detail,
            )
        )
    if criteria:
        answers = [
            (_item(row), completion if plan is not None else _supplied_answer_tokens(row))
            for _, row in rows
        ]
        by_model = {r.requested: r for r in judged_routes}
        for used in judge_tokens(criteria, answers):
            judge = by_model.get(used.model)
            cost = judge_cost(judge, used) if judge is not None else None
            parts.append(
                EstimatePart(
                    "judge",
                    used.model,
                    None if cost is None else cost.quantize(QUANTUM),
                    used.describe(),
                )
            )
    return RunEstimate(parts)
