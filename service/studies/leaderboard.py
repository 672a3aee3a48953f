"""A finished study's leaderboard and verdict: one row per baseline and candidate — the primary
score with its 95% interval, every criterion, the gates, the paired difference against the best
baseline with its CI, latency p50/p95 (ms), tokens per request, training, evaluation and
inference costs, the monthly cost at the stated volume and the break-even volume
(``economics``) — and the winner: the best primary score that passes every gate, ties broken by
monthly cost, or ``no_improvement`` when no candidate beats the prompting baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from providers.catalog import ModelInfo
from service.db.models import EvalRun, EvalRunOutputItem
from service.evals.runs.summary import LATENCY
from service.evals.statistics import compare_paired
from service.studies.economics import (
    RequestShape,
    TokenPrices,
    amortisation,
    break_even,
    cost_per_request,
    hosting_per_month,
    monthly_cost,
)

NO_IMPROVEMENT = "no candidate beats the prompting baseline; don't fine-tune"


@dataclass
class Entry:
    role: str  # baseline | candidate
    label: str
    model: str
    provider: str
    info: ModelInfo | None
    run: EvalRun | None
    items: dict[int, EvalRunOutputItem]
    job_id: str | None = None
    training_cost: Decimal | None = None
    prefix_tokens: int = 0
    error: str | None = None


@dataclass
class Board:
    rows: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("0.000001")), "f")


def _scores(entry: Entry, position: int) -> dict[int, tuple[float, bool]]:
    found = {}
    for index, item in entry.items.items():
        if len(item.results) > position:
            result = item.results[position]
            found[index] = (float(result.get("score") or 0.0), bool(result.get("passed")))
    return found


def _stat(entry: Entry, criterion_id: str, key: str) -> dict[str, Any] | None:
    stats = (entry.run.statistics if entry.run is not None else None) or {}
    value = (stats.get(criterion_id) or {}).get(key)
    return value if isinstance(value, dict) else None


def _latency(entry: Entry) -> dict[str, float | None]:
    stats = (entry.run.statistics if entry.run is not None else None) or {}
    found = stats.get(LATENCY) or {}
    return {"p50": found.get("p50"), "p95": found.get("p95")}


def _usage(entry: Entry) -> tuple[Decimal, Decimal] | None:
    usage = (entry.run.per_model_usage if entry.run is not None else None) or []
    sampled = [u for u in usage if u.get("model_name") == entry.model] or usage[:1]
    if not sampled or not sampled[0].get("invocation_count"):
        return None
    calls = Decimal(sampled[0]["invocation_count"])
    return (
        Decimal(sampled[0]["prompt_tokens"]) / calls,
        Decimal(sampled[0]["completion_tokens"]) / calls,
    )


def _prices(entry: Entry) -> TokenPrices | None:
    info = entry.info
    if info is None:
        return None
    if entry.role == "baseline":
        if info.base_input_price is None or info.base_output_price is None:
            return None
        return TokenPrices(
            info.base_input_price, info.base_output_price, info.base_cached_input_price
        )
    if info.inference_input_price is None or info.inference_output_price is None:
        return None
    return TokenPrices(
        info.inference_input_price, info.inference_output_price, info.inference_cached_input_price
    )


def _shape(entry: Entry, usage: tuple[Decimal, Decimal]) -> RequestShape:
    prompt, completion = usage
    cached = min(Decimal(entry.prefix_tokens), prompt)
    return RequestShape(prompt, completion, cached_prompt_tokens=cached)


def build_leaderboard(
    spec: dict[str, Any], entries: list[Entry], *, today: date, criterion_ids: list[str]
) -> Board:
    criteria = spec["testing_criteria"]
    names = [c["name"] for c in criteria]
    primary = names.index(spec["primary"])
    primary_id = criterion_ids[primary]
    json_ids = [
        cid for cid, c in zip(criterion_ids, criteria, strict=True) if c["type"] == "json_schema"
    ]
    gates = spec.get("gates") or {}
    compliance = float(gates.get("format_compliance", 0.95))
    min_improvement = float(gates.get("min_improvement", 0.0))
    volume = int(spec.get("volume", 0))
    horizon = Decimal(int(spec.get("horizon_months", 6)))
    scored = [e for e in entries if e.run is not None and e.run.status == "completed"]
    baselines = [e for e in scored if e.role == "baseline"]

    def primary_value(entry: Entry) -> float:
        stat = _stat(entry, primary_id, "mean_score")
        return float(stat["value"]) if stat else float("-inf")

    best = max(baselines, key=primary_value, default=None)
    best_scores = _scores(best, primary) if best is not None else {}
    best_usage = _usage(best) if best is not None else None
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row = _row(entry, names, criterion_ids, primary_id, compliance, json_ids)
        if entry.run is None or entry.run.status != "completed":
            rows.append(row)
            continue
        usage = _usage(entry)
        prices = _prices(entry)
        row["mean_prompt_tokens"] = None if usage is None else float(usage[0])
        row["mean_completion_tokens"] = None if usage is None else float(usage[1])
        hosting = (
            hosting_per_month(
                entry.info.hosting_per_hour,
                dedicated=entry.info.serving == "dedicated" and entry.role == "candidate",
            )
            if entry.info is not None
            else None
        )
        one_off = (entry.training_cost or Decimal(0)) + (entry.run.cost or Decimal(0))
        period = amortisation(today, entry.info.retirement_date if entry.info else None, horizon)
        if usage is not None and prices is not None:
            shape = _shape(entry, usage)
            month = monthly_cost(
                shape,
                prices,
                volume,
                hosting=hosting,
                one_off=one_off if entry.role == "candidate" else Decimal(0),
                period=period,
            )
            row["inference_cost_per_1k"] = _money(month.per_thousand)
            row["monthly_cost"] = _money(month.total)
            row["hosting_per_month"] = _money(hosting)
            if entry.role == "candidate" and best is not None and best_usage is not None:
                row["break_even"] = _break_even(
                    best, best_usage, shape, prices, hosting, one_off, period
                )
        if entry.role == "candidate" and best is not None:
            row["delta_vs_best_baseline"] = _delta(entry, best_scores, primary, best.label)
            delta = row["delta_vs_best_baseline"]
            improved = delta is not None and delta["ci_low"] > min_improvement
            row["gates"]["improvement"] = improved
        row["gates"]["passed"] = all(
            v for k, v in row["gates"].items() if k != "passed" and v is not None
        )
        rows.append(row)
    return Board(rows, _verdict(rows, best))


def _row(
    entry: Entry,
    names: list[str],
    criterion_ids: list[str],
    primary_id: str,
    compliance: float,
    json_ids: list[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "role": entry.role,
        "label": entry.label,
        "model": entry.model,
        "provider": entry.provider,
        "job_id": entry.job_id,
        "run_id": entry.run.id if entry.run is not None else None,
        "run_status": entry.run.status if entry.run is not None else None,
        "error": entry.error,
        "primary": _stat(entry, primary_id, "mean_score"),
        "criteria": {
            name: {
                "pass_rate": _stat(entry, cid, "pass_rate"),
                "mean_score": _stat(entry, cid, "mean_score"),
            }
            for name, cid in zip(names, criterion_ids, strict=True)
        },
        "gates": {},
        "delta_vs_best_baseline": None,
        "latency_ms": _latency(entry),
        "mean_prompt_tokens": None,
        "mean_completion_tokens": None,
        "training_cost": _money(entry.training_cost),
        "evaluation_cost": _money(entry.run.cost if entry.run is not None else None),
        "inference_cost_per_1k": None,
        "hosting_per_month": None,
        "monthly_cost": None,
        "break_even": None,
    }
    stats = [_stat(entry, cid, "pass_rate") for cid in json_ids]
    row["gates"]["format_compliance"] = (
        None
        if not json_ids
        else all(stat is not None and float(stat["value"]) >= compliance for stat in stats)
    )
    return row


def _delta(
    entry: Entry, best: dict[int, tuple[float, bool]], position: int, best_label: str
) -> dict[str, Any] | None:
    mine = _scores(entry, position)
    shared = sorted(set(mine) & set(best))
    result = compare_paired(
        [mine[i][0] for i in shared],
        [best[i][0] for i in shared],
        [mine[i][1] for i in shared],
        [best[i][1] for i in shared],
    )
    if result is None:
        return None
    estimate = result.difference
    return {
        "against": best_label,
        "value": estimate.value,
        "ci_low": estimate.interval.low,
        "ci_high": estimate.interval.high,
        "n": estimate.n,
        "mcnemar_p": result.mcnemar_p,
        "verdict": str(result.verdict),
    }


def _break_even(
    best: Entry,
    best_usage: tuple[Decimal, Decimal],
    shape: RequestShape,
    prices: TokenPrices,
    hosting: Decimal | None,
    one_off: Decimal,
    period: Any,
) -> dict[str, Any] | None:
    best_prices = _prices(best)
    if best_prices is None:
        return None
    best_shape = _shape(best, best_usage)
    uncached = TokenPrices(best_prices.input, best_prices.output)
    result = break_even(
        baseline_per_request=cost_per_request(best_shape, best_prices),
        tuned_per_request=cost_per_request(shape, prices),
        hosting=hosting,
        one_off=one_off,
        period=period,
        baseline_uncached_per_request=cost_per_request(best_shape, uncached),
    )
    return {
        "against": best.label,
        "verdict": str(result.verdict),
        "volume_per_month": result.volume,
        "reason": result.reason,
    }


def _verdict(rows: list[dict[str, Any]], best: Entry | None) -> dict[str, Any]:
    passing = [
        r
        for r in rows
        if r["role"] == "candidate" and r["run_status"] == "completed" and r["gates"].get("passed")
    ]

    def key(row: dict[str, Any]) -> tuple[float, Decimal]:
        cost = (
            Decimal(row["monthly_cost"]) if row["monthly_cost"] is not None else Decimal("Infinity")
        )
        return (-float((row["primary"] or {}).get("value", float("-inf"))), cost)

    evidence = {
        "best_baseline": best.label if best is not None else None,
        "best_baseline_primary": None,
        "candidates": [
            {
                "label": r["label"],
                "delta_vs_best_baseline": r["delta_vs_best_baseline"],
                "gates": r["gates"],
                "run_status": r["run_status"],
                "error": r["error"],
            }
            for r in rows
            if r["role"] == "candidate"
        ],
    }
    for row in rows:
        if best is not None and row["role"] == "baseline" and row["label"] == best.label:
            evidence["best_baseline_primary"] = row["primary"]
    if not passing:
        return {
            "outcome": "no_improvement",
            "winner": None,
            "message": NO_IMPROVEMENT,
            "evidence": evidence,
        }
    winner = sorted(passing, key=key)[0]
    return {
        "outcome": "winner",
        "winner": {
            "label": winner["label"],
            "model": winner["model"],
            "provider": winner["provider"],
            "job_id": winner["job_id"],
        },
        "message": f"{winner['label']} beats the best prompting baseline and passes every gate",
        "evidence": evidence,
    }
