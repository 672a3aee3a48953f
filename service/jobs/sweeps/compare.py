"""What a sweep compares between a listed provider job and our row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from providers.base import ProviderJob

MAX_PROGRESS = 128


def progress_of(found: ProviderJob) -> str:
    """The provider's progress counters as one comparable string (``jobs.provider_progress``):
    trained tokens, the estimated finish and the step counter."""
    finish = found.estimated_finish_at
    stamp = int(finish.timestamp()) if finish is not None else ""
    return f"{found.trained_tokens or ''}|{stamp}|{found.steps_completed or ''}"[:MAX_PROGRESS]


class Change(StrEnum):
    NONE = "none"
    STATUS = "status"
    """The provider status moved: poll now, ahead of routine work (it may have ended)."""
    PROGRESS = "progress"
    """Tokens, estimate or steps moved: poll within the job's usual interval."""
    FIRST_SEEN = "first_seen"
    """Our row has no progress recorded yet (a job from before sweeps): record it, no poll."""


@dataclass(frozen=True)
class Watched:
    """One active job of ours on the sweep's credential, as the sweep compares it."""

    id: str
    tenant_id: str
    provider_job_id: str
    status: str
    provider_status: str | None
    progress: str | None
    started_at: datetime | None
    next_poll_at: datetime | None


def change_of(watched: Watched, found: ProviderJob) -> Change:
    if (watched.provider_status or "") != found.provider_status[:64]:
        return Change.STATUS
    progress = progress_of(found)
    if watched.progress is None:
        return Change.FIRST_SEEN
    return Change.NONE if watched.progress == progress else Change.PROGRESS
