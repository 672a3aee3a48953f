"""The one place an eval run's status changes.

queued → in_progress → completed | failed | canceled (a queued run may end at once); a terminal
status never changes again. Entering a terminal status settles the run in the same
transaction: its summary from the stored items (counts, usage, per-criterion results,
statistics), its cost booked once in the ledger, and the ``eval.run.*`` webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.db.models import Eval, EvalRun
from service.db.types import utcnow
from service.evals.runs import costs, deployments
from service.evals.runs.items import criteria_of
from service.evals.runs.repository import RunRepository
from service.evals.runs.status import TERMINAL, RunStatus
from service.evals.runs.stored import outcome_of
from service.evals.runs.summary import summarize
from service.settings import Settings
from service.webhooks.deliveries import enqueue_tenant_event
from service.webhooks.events import (
    EVAL_RUN_CANCELED,
    EVAL_RUN_FAILED,
    EVAL_RUN_SUCCEEDED,
    eval_run_event_payload,
    new_event_id,
)

_RANK = {
    RunStatus.QUEUED: 0,
    RunStatus.IN_PROGRESS: 1,
    RunStatus.COMPLETED: 2,
    RunStatus.FAILED: 2,
    RunStatus.CANCELED: 2,
}
_EVENTS = {
    RunStatus.COMPLETED: EVAL_RUN_SUCCEEDED,
    RunStatus.FAILED: EVAL_RUN_FAILED,
    RunStatus.CANCELED: EVAL_RUN_CANCELED,
}


class InvalidRunTransition(RuntimeError):
    """A programming error: a move the run's state machine forbids."""


def can_move(current: str, target: RunStatus) -> bool:
    try:
        status = RunStatus(current)
    except ValueError:
        return False
    return status not in TERMINAL and _RANK[target] > _RANK[status]


def transition_run(
    session: Session,
    settings: Settings,
    run: EvalRun,
    target: RunStatus,
    *,
    error: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Move ``run`` to ``target``; False when it is already there."""
    if run.status == target:
        return False
    if not can_move(run.status, target):
        raise InvalidRunTransition(f"eval run {run.id}: {run.status} → {target} is not allowed")
    now = now or utcnow()
    run.status = target
    run.updated_at = now
    if target is RunStatus.IN_PROGRESS and run.started_at is None:
        run.started_at = now
    if target in TERMINAL:
        run.finished_at = now
        run.next_step_at = None
        run.lease_owner = None
        run.lease_expires_at = None
        if target is RunStatus.FAILED:
            run.error = error or {"code": "failed", "message": "The run failed."}
        _settle(session, settings, run, now)
        enqueue_tenant_event(
            session,
            run.tenant_id,
            _EVENTS[target],
            eval_run_event_payload(
                {
                    "id": run.id,
                    "object": "eval.run",
                    "eval_id": run.eval_id,
                    "status": str(run.status),
                    "result_counts": run.result_counts,
                    "error": run.error,
                    "cost": None if run.cost is None else str(run.cost),
                },
                _EVENTS[target],
                event_id=new_event_id(),
                created_at=now,
            ),
            now=now,
        )
    session.flush()
    return True


def _settle(session: Session, settings: Settings, run: EvalRun, now: datetime) -> None:
    """The run's summary from its stored items, and its cost booked once."""
    evaluation = session.get(Eval, run.eval_id)
    criteria = criteria_of(evaluation.testing_criteria) if evaluation is not None else []
    outcomes = [outcome_of(row) for row in RunRepository(session).items_of(run.id)]
    summary = summarize(outcomes, criteria)
    run.result_counts = summary.result_counts
    run.per_model_usage = summary.per_model_usage
    run.per_testing_criteria_results = summary.per_testing_criteria_results
    run.statistics = summary.statistics
    costs.book_run_cost(session, settings, run, summary.per_model_usage, now)
    deployments.book_hosting(session, run, now)
