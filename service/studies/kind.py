"""The study, declared as a kind on the lifecycle engine: its table, statuses, terminal set,
its one step task and how a failure is recorded. The transition function is
``service.studies.transitions.transition``; the step lives in ``steps``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.db.models import Study
from service.db.types import utcnow
from service.lifecycle.kind import Kind, StepFailed, classify_nothing
from service.settings import Settings
from service.studies.job_event import announce_evaluated, attached_job_id
from service.studies.schemas import TERMINAL, StudyStatus
from service.studies.transitions import transition

STEP_TASK = "tuneforge.study_step"


def next_task(study: Study) -> str:
    return STEP_TASK


def fail(session: Session, settings: Settings, study: Any, failed: StepFailed) -> None:
    transition(
        study,
        StudyStatus.FAILED,
        reason=failed.reason,
        error=failed.error,
        level="error",
    )
    if attached_job_id(study) is not None:
        announce_evaluated(session, study, utcnow())


STUDY = Kind(
    name="study",
    model=Study,
    statuses=StudyStatus,
    terminal=TERMINAL,
    next_task=next_task,
    fail=fail,
    classify=classify_nothing,  # its step touches only our database
    due_column="next_step_at",
)
