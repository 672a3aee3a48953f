"""The ``evaluation`` field of a job created with one: what its attached one-candidate study
(``service.studies.attached``) has found — the eval and its runs, each model's per-criterion
results, the tuned model's paired comparison against the best baseline, the verdict — or why
nothing was evaluated. Reads the study row only (no import of the studies domain, which imports
the job API)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from service.db.models import Study


class EvaluationStatus(StrEnum):
    PENDING = "pending"  # the job is still training
    RUNNING = "running"  # the eval runs are sampling
    COMPLETED = "completed"
    FAILED = "failed"  # the job succeeded but the evaluation could not finish: see ``error``
    SKIPPED = "skipped"  # the job did not succeed: nothing was evaluated
    CANCELLED = "cancelled"  # the caller cancelled it after the job succeeded


SKIPPED_CODES = frozenset({"job_failed", "job_cancelled"})
"""``study.error.code`` when the job's training ended without a tuned model."""

_RESULT_KEYS = (
    "role",
    "label",
    "model",
    "provider",
    "run_id",
    "run_status",
    "error",
    "primary",
    "criteria",
    "evaluation_cost",
)


def evaluation_status(study: Study) -> EvaluationStatus:
    if study.status in ("queued", "training"):
        return EvaluationStatus.PENDING
    if study.status == "evaluating":
        return EvaluationStatus.RUNNING
    if study.status == "completed":
        return EvaluationStatus.COMPLETED
    if (study.error or {}).get("code") in SKIPPED_CODES:
        return EvaluationStatus.SKIPPED
    if study.status == "cancelled":
        return EvaluationStatus.CANCELLED
    return EvaluationStatus.FAILED


def evaluation_object(study: Study) -> dict[str, Any]:
    evaluation = study.evaluation or {}
    quote = study.quote or {}
    rows = list(study.leaderboard or [])
    tuned = next((r for r in rows if r.get("role") == "candidate"), None)
    spec = study.spec or {}
    return {
        "status": evaluation_status(study).value,
        "error": study.error,
        "eval_id": evaluation.get("eval_id"),
        "train_file": study.train_file_id,
        "test_file": study.test_file_id,
        "test_items": quote.get("test_items"),
        "testing_criteria": [c.get("name") for c in spec.get("testing_criteria", [])],
        "primary": spec.get("primary"),
        "baselines": spec.get("baselines", []),
        "quote": {"total": quote.get("total"), "parts": quote.get("parts", [])},
        "runs": [
            {k: run.get(k) for k in ("role", "label", "model", "run_id", "error")}
            for run in evaluation.get("runs", [])
        ],
        "results": [{k: row.get(k) for k in _RESULT_KEYS} for row in rows],
        "comparison": None if tuned is None else tuned.get("delta_vs_best_baseline"),
        "gates": None if tuned is None else tuned.get("gates"),
        "verdict": study.verdict,
    }
