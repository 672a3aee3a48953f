"""The study object as the API renders it."""

from __future__ import annotations

from typing import Any

from service.db.models import Study
from service.studies.baselines import StudyBaseline
from service.studies.schemas import (
    StudyCandidateState,
    StudyGates,
    StudyObject,
    StudyQuote,
    StudyStatus,
)


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _evaluation(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    runs = [{k: v for k, v in r.items() if k != "prefix_text"} for r in stored.get("runs", [])]
    return {"eval_id": stored.get("eval_id"), "runs": runs}


def study_object(study: Study) -> StudyObject:
    spec = study.spec
    return StudyObject(
        id=study.id,
        name=study.name,
        status=StudyStatus(study.status),
        created_at=int(study.created_at.timestamp()),
        finished_at=_ts(study.finished_at),
        training_file=study.training_file_id,
        train_file=study.train_file_id,
        test_file=study.test_file_id,
        candidates=[
            StudyCandidateState(
                model=c["model"],
                provider=c["provider"],
                label=c.get("label"),
                as_on=c.get("as_on"),
                job_id=c.get("job_id"),
                status=c["status"],
                fine_tuned_model=c.get("fine_tuned_model"),
                cost={"amount": c["cost"], "currency": "USD"} if c.get("cost") else None,
            )
            for c in study.candidates
        ],
        baselines=[StudyBaseline.model_validate(b) for b in spec.get("baselines", [])],
        testing_criteria=list(spec.get("testing_criteria", [])),
        primary=spec["primary"],
        gates=StudyGates.model_validate(spec.get("gates") or {}),
        budget={"amount": str(spec["budget"]), "currency": "USD"},
        volume=int(spec.get("volume", 0)),
        horizon_months=int(spec.get("horizon_months", 6)),
        quote=StudyQuote.model_validate(study.quote),
        warnings=list(study.warnings or []),
        events=list(study.events or []),
        evaluation=_evaluation(study.evaluation),
        leaderboard=study.leaderboard,
        verdict=study.verdict,
        error=study.error,
        metadata=study.user_metadata or None,
    )
