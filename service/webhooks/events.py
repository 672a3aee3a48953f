"""Event types and payloads: OpenAI's ``{id, object: "event", created_at, type, data}`` shape,
with the job's status, fine-tuned model, error and cost added to ``data`` (money as in the API:
``{"amount": "<decimal string>", "currency": "USD"}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.billing.money import Money, job_cost, money
from service.db.ids import new_id
from service.db.models import Checkpoint, Job

JOB_SUCCEEDED = "fine_tuning.job.succeeded"
JOB_FAILED = "fine_tuning.job.failed"
JOB_CANCELLED = "fine_tuning.job.cancelled"
JOB_RUNNING = "fine_tuning.job.running"
CHECKPOINT_CREATED = "fine_tuning.job.checkpoint.created"

EVAL_RUN_SUCCEEDED = "eval.run.succeeded"
EVAL_RUN_FAILED = "eval.run.failed"
EVAL_RUN_CANCELED = "eval.run.canceled"  # OpenAI's spelling for runs: one "l"

STUDY_COMPLETED = "fine_tuning.study.completed"
"""Ours: a study ended with its leaderboard and verdict (``data``: the study's id, status,
verdict and leaderboard)."""

JOB_EVALUATED = "fine_tuning.job.evaluated"
"""Ours: the evaluation of a job created with ``evaluation`` ended (``data``: the job's id,
status, model, fine-tuned model and its ``evaluation``: results, comparison, verdict, or why it
failed)."""

TERMINAL_EVENTS: tuple[str, ...] = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)
"""What an endpoint created without ``events`` hears (the jobs' ends)."""
JOB_URL_EVENTS: tuple[str, ...] = (*TERMINAL_EVENTS, JOB_EVALUATED)
"""What a job's own ``webhook_url`` hears: the job's end and, for a job created with
``evaluation``, its evaluation's end (users ask for the results, not just "done")."""
EVAL_RUN_EVENTS: tuple[str, ...] = (EVAL_RUN_SUCCEEDED, EVAL_RUN_FAILED, EVAL_RUN_CANCELED)
EVENT_TYPES: tuple[str, ...] = (
    *TERMINAL_EVENTS,
    JOB_RUNNING,
    CHECKPOINT_CREATED,
    *EVAL_RUN_EVENTS,
    STUDY_COMPLETED,
    JOB_EVALUATED,
)

_EVENT_FOR_STATUS = {
    "succeeded": JOB_SUCCEEDED,
    "failed": JOB_FAILED,
    "cancelled": JOB_CANCELLED,
    "running": JOB_RUNNING,
}


def event_type_for_status(status: str) -> str | None:
    """The event a job entering ``status`` announces, if any."""
    return _EVENT_FOR_STATUS.get(status)


def new_event_id() -> str:
    return new_id("evt_")


def job_event_payload(
    job: Job,
    event_type: str,
    *,
    event_id: str,
    created_at: datetime,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    data: dict[str, Any] = {
        "id": job.id,
        "object": "fine_tuning.job",
        "status": job.status,
        "model": job.model,
        "provider": job.provider,
        "fine_tuned_model": job.fine_tuned_model,
        "error": job.error,
        # the same money objects as the job in the API (decimal strings, never floats)
        "estimated_cost": _dump(money(job.estimated_cost)),
        "cost": _dump(job_cost(job.cost, job.cost_basis)),
        "metadata": job.user_metadata or None,
    }
    if checkpoint is not None:
        data["checkpoint"] = {
            "id": checkpoint.id,
            "object": "fine_tuning.job.checkpoint",
            "step_number": checkpoint.step,
            "fine_tuned_model_checkpoint": checkpoint.fine_tuned_model_checkpoint,
            "metrics": checkpoint.metrics,
        }
    return _envelope(event_type, data, event_id, created_at)


def eval_run_event_payload(
    data: dict[str, Any], event_type: str, *, event_id: str, created_at: datetime
) -> dict[str, Any]:
    """OpenAI's eval-run event: ``data`` carries the run's ``id`` (and, ours, its status,
    eval, result counts and cost)."""
    if event_type not in EVAL_RUN_EVENTS:
        raise ValueError(f"unknown eval run event type {event_type!r}")
    return _envelope(event_type, data, event_id, created_at)


def study_event_payload(
    data: dict[str, Any], *, event_id: str, created_at: datetime
) -> dict[str, Any]:
    return _envelope(STUDY_COMPLETED, data, event_id, created_at)


def job_evaluated_payload(
    data: dict[str, Any], *, event_id: str, created_at: datetime
) -> dict[str, Any]:
    """The evaluation attached to a job ended: ``data`` is the job's id, status, models and
    its ``evaluation``."""
    return _envelope(JOB_EVALUATED, data, event_id, created_at)


def _envelope(
    event_type: str, data: dict[str, Any], event_id: str, created_at: datetime
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "created_at": int(created_at.timestamp()),
        "type": event_type,
        "data": data,
    }


def _dump(value: Money | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump()
