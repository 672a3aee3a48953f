"""The wire shapes of runs and output items: OpenAI's ``eval.run`` and
``eval.run.output_item`` (the SDK's types parse them), plus our run extensions ``statistics``
(per criterion: pass rate and mean score with 95% intervals) and ``cost``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from service.billing.money import Money, money
from service.db.models import EvalRun, EvalRunOutputItem
from service.evals.runs.status import TERMINAL, RunStatus


class RunObject(BaseModel):
    object: Literal["eval.run"] = "eval.run"
    id: str
    eval_id: str
    name: str
    model: str | None
    status: RunStatus
    created_at: int
    data_source: dict[str, Any]
    metadata: dict[str, str] | None
    report_url: str
    error: dict[str, Any] | None
    result_counts: dict[str, int]
    per_model_usage: list[dict[str, Any]] | None
    per_testing_criteria_results: list[dict[str, Any]] | None
    statistics: dict[str, Any] | None = None
    """Ours: per criterion id, ``pass_rate`` (Wilson) and ``mean_score`` (bootstrap; Wilson when
    every score is 0 or 1), each
    ``{value, ci_low, ci_high, n, confidence}``; under ``latency_ms``, ``{p50, p95, n}`` of the
    sampling calls in ms (null when the run sampled nothing); null until the run ends."""
    estimated_cost: Money | None = None
    """Ours: the upper bound the run was checked against the budget with."""
    cost: Money | None = None
    """Ours: inference tokens × the catalog's inference prices (plus the hosting of a dedicated
    deployment); null while running or when a model used has no price."""
    deployment: dict[str, Any] | None = None
    """Ours: the dedicated deployment the run made for a tuned model that serves only on one
    (provider, id, model, model_to_call, state, created_at, ready_at, stopped_at, hosted_s,
    hosting_per_hour); null when it needed none."""


class RunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class RunDeleted(BaseModel):
    object: Literal["eval.run.deleted"] = "eval.run.deleted"
    deleted: bool
    run_id: str


class OutputItemObject(BaseModel):
    object: Literal["eval.run.output_item"] = "eval.run.output_item"
    id: str
    run_id: str
    eval_id: str
    created_at: int
    status: str
    datasource_item_id: int
    datasource_item: dict[str, Any]
    results: list[dict[str, Any]]
    sample: dict[str, Any] | None


class OutputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OutputItemObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


def report_url(run: EvalRun) -> str:
    return f"/admin/evals/{run.eval_id}/runs/{run.id}"


def run_object(run: EvalRun, live_counts: dict[str, int] | None = None) -> RunObject:
    """``live_counts``: item statuses stored so far, for a run still going."""
    counts = dict(run.result_counts or {"total": 0, "passed": 0, "failed": 0, "errored": 0})
    if live_counts is not None and RunStatus(run.status) not in TERMINAL:
        counts.update(
            passed=live_counts.get("pass", 0),
            failed=live_counts.get("fail", 0),
            errored=live_counts.get("error", 0),
        )
    return RunObject(
        id=run.id,
        eval_id=run.eval_id,
        name=run.name,
        model=run.model,
        status=RunStatus(run.status),
        created_at=int(run.created_at.timestamp()),
        data_source=run.data_source,
        metadata=run.user_metadata,
        report_url=report_url(run),
        error=run.error,
        result_counts=counts,
        per_model_usage=run.per_model_usage,
        per_testing_criteria_results=run.per_testing_criteria_results,
        statistics=run.statistics,
        estimated_cost=money(run.estimated_cost),
        cost=money(run.cost),
        deployment=_deployment(run.deployment),
    )


def _deployment(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {key: value for key, value in record.items() if key != "booked"}


def output_item_object(row: EvalRunOutputItem) -> OutputItemObject:
    return OutputItemObject(
        id=row.id,
        run_id=row.run_id,
        eval_id=row.eval_id,
        created_at=int(row.created_at.timestamp()),
        status=row.status,
        datasource_item_id=row.datasource_item_id,
        datasource_item=row.datasource_item,
        results=row.results,
        sample=row.sample,
    )
