"""A row's next step and its hand-off to the workers, for every kind.

Every active row has a due time (its kind's ``due_column``): when its next step is due.
Scheduling a step that is due within the outbox's near-term horizon writes its outbox row at
once, relayed to Celery after commit with a countdown to its due time; a later step is left to
the reconciler. The reconciler scans for steps that are due and enqueues them under the step's
own dedupe key (a no-op for a step already written), and under a fresh *rescue* key once a step
is overdue — so a message lost by the broker (or held, with its countdown, by a worker that
died) only delays the work, and a live message is never doubled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service import outbox
from service.db.types import utcnow
from service.lifecycle.kind import Kind


def due_at(kind: Kind, row: Any) -> datetime | None:
    value: datetime | None = getattr(row, kind.due_column)
    return value


def step_key(kind: Kind, row: Any, rescue: int = 0) -> str:
    """One key per scheduled step (and per rescue of it): dedupes relays of the same step."""
    due = due_at(kind, row)
    assert due is not None
    millis = int(due.timestamp() * 1000)
    return f"{kind.next_task(row)}:{row.id}:{millis}:{rescue}"


def schedule(
    session: Session,
    kind: Kind,
    row: Any,
    at: datetime,
    *,
    now: datetime | None = None,
    prompt: bool = False,
) -> None:
    """Set when the row's next step is due; if that is within the outbox's near-term horizon,
    write its outbox row now, to be sent after commit and run at ``at`` (a ``prompt`` step
    ahead of routine ones)."""
    now = now or utcnow()
    setattr(row, kind.due_column, at)
    session.flush()
    if at <= now + timedelta(seconds=outbox.NEAR_TERM_S):
        enqueue_step(session, kind, row, available_at=max(at, now), prompt=prompt)


def enqueue_step(
    session: Session,
    kind: Kind,
    row: Any,
    rescue: int = 0,
    *,
    available_at: datetime | None = None,
    prompt: bool = False,
) -> None:
    task = kind.next_task(row)
    outbox.enqueue(
        session,
        task=kind.prompt_tasks.get(task, task) if prompt else task,
        target_id=row.id,
        dedupe_key=step_key(kind, row, rescue),
        tenant_id=row.tenant_id,
        available_at=available_at,
    )
