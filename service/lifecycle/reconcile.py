"""The reconciler, for every kind: each active row whose next step is due (and whose lease, if
any, has expired) is handed to the workers again — under the step's own dedupe key at first,
and under a fresh key once it is overdue by ``rescue_after_s``, then by 3×, 7×, 15×… that, so
a message the broker lost (a flushed Redis, a killed worker) is sent again, a live one is not
doubled, and one merely waiting in a backlogged queue is re-sent only a few times (each
re-send lengthens the very backlog it waits in).

When the broker holds no backlog (``broker_idle``), a step still due a whole reconcile interval
after its time was not merely waiting in a queue: its message failed (the database was down
when it ran) or was lost (the broker was flushed, or a worker holding it lost its connection).
The rescues then start after one interval (1×, 3×, 7×… of it) instead of ``rescue_after_s``, so
after an outage every step due runs again within one reconcile interval.

A step due before the next tick is sent at this one, with a countdown to its due time: a poll
brought forward to a provider's estimated finish then runs on time, not up to a tick late."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.lifecycle import schedule
from service.lifecycle.kind import Kind
from service.settings import Settings


def rescue_after_s(settings: Settings) -> float:
    return max(settings.lease_ttl_s, 4 * settings.reconcile_interval_s)


def rescue_number(overdue_s: float, rescue_after: float) -> int:
    """0 until ``rescue_after``; n once overdue by (2**n - 1) × ``rescue_after``."""
    if overdue_s < rescue_after:
        return 0
    return int(math.log2(overdue_s / rescue_after + 1))


def due_rows(
    session: Session, kind: Kind, now: datetime, limit: int, *, due_by: datetime | None = None
) -> list[Any]:
    """Active rows whose next step is due by ``due_by`` (default: now) and whose lease (if
    any) has expired, soonest first."""
    model = kind.model
    due = getattr(model, kind.due_column)
    query = (
        select(model)
        .where(
            model.status.in_(kind.active),
            due.is_not(None),
            due <= (due_by or now),
            or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
        )
        .order_by(due)
        .limit(limit)
    )
    return list(session.scalars(query))


def enqueue_due(
    session: Session,
    settings: Settings,
    kinds: Sequence[Kind],
    now: datetime,
    *,
    limit: int = 2000,
    broker_idle: bool = False,
) -> int:
    """Enqueue every due step of every kind; returns how many were handed over."""
    rescue_after = settings.reconcile_interval_s if broker_idle else rescue_after_s(settings)
    next_tick = now + timedelta(seconds=settings.reconcile_interval_s)
    count = 0
    for kind in kinds:
        for row in due_rows(session, kind, now, limit, due_by=next_tick):
            due = schedule.due_at(kind, row)
            assert due is not None
            overdue = (now - due).total_seconds()
            if overdue < 0:
                schedule.enqueue_step(session, kind, row, available_at=due)
            else:
                rescue = rescue_number(overdue, rescue_after)
                schedule.enqueue_step(session, kind, row, rescue=rescue)
            count += 1
    return count
