"""What a run reports once its items are graded: OpenAI's ``result_counts``,
``per_model_usage`` and ``per_testing_criteria_results``, and our ``statistics`` (per
criterion: pass rate with a Wilson 95% interval, mean score with a bootstrap 95% interval;
and ``latency_ms``: p50/p95 of the model calls that sampled the items).
Errored items count in ``errored`` only; they carry no score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.evals.runs.items import Criterion, ItemOutcome, ItemStatus, ModelUsage
from service.evals.runs.latency import latency_summary
from service.evals.statistics import DEFAULT_SEED, Estimate, mean_score, wilson_interval

LATENCY = "latency_ms"
"""The statistics' key of the sampled model's latency (``{p50, p95, n}`` ms, or null); every
other key is a criterion id."""


@dataclass(frozen=True)
class RunSummary:
    result_counts: dict[str, int]
    per_model_usage: list[dict[str, Any]]
    per_testing_criteria_results: list[dict[str, Any]]
    statistics: dict[str, Any]


def _estimate(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "value": estimate.value,
        "ci_low": estimate.interval.low,
        "ci_high": estimate.interval.high,
        "n": estimate.n,
        "confidence": 0.95,
    }


def summarize(
    outcomes: Sequence[ItemOutcome], criteria: list[Criterion], seed: int = DEFAULT_SEED
) -> RunSummary:
    counts = {
        "total": len(outcomes),
        "passed": sum(o.status is ItemStatus.PASS for o in outcomes),
        "failed": sum(o.status is ItemStatus.FAIL for o in outcomes),
        "errored": sum(o.status is ItemStatus.ERROR for o in outcomes),
    }
    usage: dict[str, ModelUsage] = {}
    for outcome in outcomes:
        for model, used in outcome.usage.items():
            usage.setdefault(model, ModelUsage()).add(used)
    per_model = [
        {
            "model_name": model,
            "invocation_count": used.invocation_count,
            "prompt_tokens": used.prompt_tokens,
            "completion_tokens": used.completion_tokens,
            "total_tokens": used.prompt_tokens + used.completion_tokens,
            "cached_tokens": used.cached_tokens,
        }
        for model, used in sorted(usage.items())
    ]
    graded = [o for o in outcomes if o.status is not ItemStatus.ERROR]
    per_criterion: list[dict[str, Any]] = []
    statistics: dict[str, Any] = {}
    for position, criterion in enumerate(criteria):
        results = [o.results[position] for o in graded if len(o.results) > position]
        passed = sum(r.passed for r in results)
        per_criterion.append(
            {"testing_criteria": criterion.id, "passed": passed, "failed": len(results) - passed}
        )
        statistics[criterion.id] = {
            "pass_rate": _estimate(wilson_interval(passed, len(results))),
            "mean_score": _estimate(mean_score([r.score for r in results], seed=seed)),
        }
    statistics[LATENCY] = latency_summary(o.sample for o in outcomes)
    return RunSummary(counts, per_model, per_criterion, statistics)
