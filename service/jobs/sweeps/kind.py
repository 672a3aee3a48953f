"""The sweep, declared as a kind on the lifecycle engine: its table, statuses and task. A sweep
never fails for good: a permanent provider error (a revoked key) is recorded and the sweep
tries again later, while the jobs' own polls report the error on each job."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from service.db.models import ProviderSweep
from service.db.types import utcnow
from service.lifecycle import pacing, schedule
from service.lifecycle.kind import Kind, StepFailed, classify_provider_errors
from service.settings import Settings

log = logging.getLogger(__name__)

SWEEP_TASK = "tuneforge.sweep_provider"


class SweepStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


def fail(session: Session, settings: Settings, sweep: Any, failed: StepFailed) -> None:
    log.warning("sweep %s failed: %s; trying again later", sweep.id, failed.reason)
    sweep.failures += 1
    sweep.last_error = failed.reason[:2000]
    now = utcnow()
    delay = max(pacing.backoff_s(sweep.failures, settings), settings.sweep_max_interval_s)
    schedule.schedule(session, SWEEP, sweep, pacing.after(now, delay), now=now)


SWEEP = Kind(
    name="sweep",
    model=ProviderSweep,
    statuses=SweepStatus,
    terminal=frozenset({SweepStatus.RETIRED}),
    next_task=lambda sweep: SWEEP_TASK,
    fail=fail,
    classify=classify_provider_errors,
    due_column="next_sweep_at",
)
