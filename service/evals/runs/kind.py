"""The eval run, declared as a kind on the lifecycle engine: its table, statuses, terminal set,
tasks and how a failure is classified and recorded. The transition function is
``service.evals.runs.transitions.transition_run``; the one step is ``step.RunItemsStep``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.db.models import EvalRun
from service.errors import InvalidRequest
from service.evals.runs import deployments
from service.evals.runs.local import LocalInferenceUnavailable
from service.evals.runs.routing import LOCAL
from service.evals.runs.status import TERMINAL, RunStatus
from service.evals.runs.transitions import transition_run
from service.jobs.lifecycle.adapters import adapter_for
from service.lifecycle.kind import Kind, StepFailed, StepRetry, classify_provider_errors
from service.settings import Settings

RUN_TASK = "tuneforge.eval_run"
LOCAL_RUN_TASK = "tuneforge.eval_run_local"
"""A run on a local model: the same step, on the gpu queue (where the model can be loaded)."""


def next_task(run: EvalRun) -> str:
    return LOCAL_RUN_TASK if run.provider == LOCAL else RUN_TASK


def classify(exc: Exception) -> StepRetry | StepFailed | None:
    verdict = classify_provider_errors(exc)
    if verdict is not None:
        return verdict
    if isinstance(exc, InvalidRequest):
        return StepFailed({"code": exc.code, "message": exc.message, "param": exc.param})
    if isinstance(exc, LocalInferenceUnavailable):
        return StepFailed(
            {"code": "local_inference_unavailable", "message": str(exc), "param": "model"}
        )
    return None


def fail(session: Session, settings: Settings, run: Any, failed: StepFailed) -> None:
    deployments.stop_in_transaction(session, settings, run, adapter_for)
    transition_run(session, settings, run, RunStatus.FAILED, error=failed.error)


EVAL_RUN = Kind(
    name="eval_run",
    model=EvalRun,
    statuses=RunStatus,
    terminal=TERMINAL,
    next_task=next_task,
    fail=fail,
    classify=classify,
    due_column="next_step_at",
    gpu_tasks=frozenset({LOCAL_RUN_TASK}),
)
