"""The one place a study's status changes: forward moves only, a terminal status never changes
again, and every change appends an event saying why (the study's bounded event log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.db.models import Study
from service.db.types import utcnow
from service.studies.schemas import TERMINAL, StudyStatus

MAX_EVENTS = 200
_RANK = {
    StudyStatus.QUEUED: 0,
    StudyStatus.TRAINING: 1,
    StudyStatus.EVALUATING: 2,
    StudyStatus.COMPLETED: 3,
    StudyStatus.FAILED: 3,
    StudyStatus.CANCELLED: 3,
}


class InvalidTransition(RuntimeError):
    """A programming error: a caller asked for a move the state machine forbids."""


def is_terminal(study: Study) -> bool:
    return study.status in TERMINAL


def add_event(
    study: Study,
    message: str,
    *,
    level: str = "info",
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    event = {
        "created_at": int((now or utcnow()).timestamp()),
        "level": level,
        "message": message[:2000],
        "data": data or {},
    }
    study.events = [*list(study.events or []), event][-MAX_EVENTS:]


def transition(
    study: Study,
    target: StudyStatus,
    *,
    reason: str,
    error: dict[str, Any] | None = None,
    level: str = "info",
    now: datetime | None = None,
) -> None:
    current = StudyStatus(study.status)
    if current in TERMINAL or _RANK[target] <= _RANK[current]:
        raise InvalidTransition(f"study {study.id}: {current} -> {target}")
    now = now or utcnow()
    study.status = target.value
    if error is not None:
        study.error = error
    if target in TERMINAL:
        study.finished_at = now
        study.next_step_at = None
    add_event(study, reason, level=level, data={"status": target.value}, now=now)
