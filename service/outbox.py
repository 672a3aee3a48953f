"""The durable outbox. Work that must not be lost is written as a row in the same transaction
as the state change that causes it; after the commit it is handed to the task sender (Celery,
wired in by ``workers``), and the reconciler re-sends any row still unsent once it is due.
A row due within ``NEAR_TERM_S`` is handed over at once with the delay until it is due (a
Celery countdown), so near-term work runs on time instead of at the reconciler's next tick.
``service`` never imports Celery: the sender is installed per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.models import OutboxMessage
from service.db.session import after_commit
from service.db.types import utcnow

log = logging.getLogger(__name__)

TaskSender = Callable[[str, str, dict[str, Any], float], None]
"""Send one task: (task name, target id, payload, seconds to wait before running it).
Raises if the broker is unreachable."""

NEAR_TERM_S = 60.0
"""Rows due within this long are sent right after commit, to run after a countdown; later
ones wait unsent for the reconciler (a broker holding far-future messages is fragile)."""

_sender: TaskSender | None = None


def install_sender(sender: TaskSender | None) -> None:
    """Set the process's task sender (None: leave rows for the reconciler of another process)."""
    global _sender
    _sender = sender


def current_sender() -> TaskSender | None:
    return _sender


def enqueue(
    session: Session,
    *,
    task: str,
    target_id: str,
    dedupe_key: str,
    tenant_id: str | None = None,
    payload: dict[str, Any] | None = None,
    available_at: datetime | None = None,
) -> OutboxMessage:
    """Write an outbox row (idempotent on ``dedupe_key``) and relay it after commit if it is
    due within ``NEAR_TERM_S`` (to run at ``available_at``)."""
    existing = session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing
    message = OutboxMessage(
        task=task,
        target_id=target_id,
        dedupe_key=dedupe_key,
        tenant_id=tenant_id,
        payload=payload or {},
        available_at=available_at or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        # Another transaction wrote the same key first: its row stands for ours.
        winner = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        ).one()
        return winner
    if message.available_at <= utcnow() + timedelta(seconds=NEAR_TERM_S):
        message_id = message.id
        bind = session.get_bind()
        after_commit(session, lambda: _relay_after_commit(bind, [message_id]))
    return message


def _relay_after_commit(bind: Any, ids: list[int]) -> None:
    sender = _sender
    if sender is None:
        return
    try:
        with Session(bind=bind, expire_on_commit=False) as session, session.begin():
            rows = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None)
                )
            ).all()
            send_messages(session, rows, sender)
    except Exception:
        # The rows are committed; the reconciler will send them. Never fail the request here.
        log.warning("outbox relay failed; the reconciler will retry", exc_info=True)


def send_messages(session: Session, rows: Sequence[OutboxMessage], sender: TaskSender) -> int:
    """Send rows (each to run at its ``available_at``) and mark them sent; stops at the first
    broker failure. Returns rows sent."""
    sent = 0
    for row in rows:
        row.send_attempts += 1
        delay_s = max(0.0, (row.available_at - utcnow()).total_seconds())
        try:
            sender(row.task, row.target_id, dict(row.payload), delay_s)
        except Exception:
            log.warning("could not send %s for %s", row.task, row.target_id, exc_info=True)
            break
        row.sent_at = utcnow()
        sent += 1
    session.flush()
    return sent


def due_messages(session: Session, now: datetime, limit: int = 500) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now)
        .order_by(OutboxMessage.available_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def relay_due(session: Session, sender: TaskSender, now: datetime | None = None) -> int:
    """The reconciler's half of the outbox: send every unsent row that is due."""
    return send_messages(session, due_messages(session, now or utcnow()), sender)


PRUNE_BATCH = 1000


def prune_sent(session: Session, before: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` rows sent before ``before`` (one bounded batch, so the delete never
    holds many locks or a long transaction). Returns how many were deleted."""
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < before)
            .order_by(OutboxMessage.sent_at)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return len(ids)
