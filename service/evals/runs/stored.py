"""An item's outcome as stored (``eval_run_output_items``) and back: what the executor graded
is written once, and the run's summary is computed from the stored rows, so a resumed run's
summary covers the items of every attempt."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from service.db.models import EvalRunOutputItem
from service.db.types import utcnow
from service.evals.graders.grade import GraderResult
from service.evals.runs.items import ItemOutcome, ItemStatus, ModelUsage


def storable(value: Any) -> Any:
    """``value`` with every NUL character replaced (U+FFFD): PostgreSQL's JSONB and text
    refuse U+0000, and a model's raw output can hold one (a random-init local model does)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _result(result: GraderResult) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "name": result.name,
        "type": result.type,
        "score": result.score,
        "passed": result.passed,
        "sample": None,
    }
    if result.details:
        stored["details"] = result.details
    if result.error:
        stored["error"] = result.error
    return stored


def output_item(
    tenant_id: str, eval_id: str, run_id: str, outcome: ItemOutcome
) -> EvalRunOutputItem:
    sample = outcome.sample
    if outcome.error:
        # OpenAI's output item says why in ``sample.error``, also when nothing was sampled
        sample = {**(sample or {}), "error": {"code": "item_error", "message": outcome.error}}
    return EvalRunOutputItem(
        tenant_id=tenant_id,
        run_id=run_id,
        eval_id=eval_id,
        datasource_item_id=outcome.index,
        datasource_item=storable(outcome.item),
        sample=storable(sample),
        results=storable([_result(r) for r in outcome.results]),
        status=str(outcome.status),
        usage=storable({model: asdict(used) for model, used in outcome.usage.items()}),
        error=storable(outcome.error),
        created_at=utcnow(),
    )


def outcome_of(row: EvalRunOutputItem) -> ItemOutcome:
    results = [
        GraderResult(
            name=str(r.get("name", "")),
            type=str(r.get("type", "")),
            score=float(r.get("score") or 0.0),
            passed=bool(r.get("passed")),
        )
        for r in row.results or []
        if isinstance(r, dict)
    ]
    usage = {
        model: ModelUsage(**{k: int(v) for k, v in used.items() if k in _USAGE_FIELDS})
        for model, used in (row.usage or {}).items()
        if isinstance(used, dict)
    }
    return ItemOutcome(
        index=row.datasource_item_id,
        item=row.datasource_item,
        status=ItemStatus(row.status),
        results=results,
        sample=row.sample,
        usage=usage,
        error=row.error,
    )


_USAGE_FIELDS = ("invocation_count", "prompt_tokens", "completion_tokens", "cached_tokens")
