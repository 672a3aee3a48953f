"""The durable outbox. Work that must not be lost is written as a row in the same transaction
as the state change that causes it; after the commit it is handed to the task sender (Celery,
wired in by ``workers``), and the reconciler re-sends any row still unsent once it is due.
A row due within ``NEAR_TERM_S`` is handed over at once with the delay until it is due (a
Celery countdown), so near-term work runs on time instead of at the reconciler's next tick.
``service`` never imports Celery: the sender is installed per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
) -> bool:
    """Write an outbox row (idempotent on ``dedupe_key``: False when a row with that key
    exists) and relay it after commit if it is due within ``NEAR_TERM_S`` (to run at
    ``available_at``). One statement: every create and every step writes a row.

    A row this process will relay is written already marked sent, so relaying it costs no
    second transaction (before: a claim ``UPDATE`` in a transaction of its own, four of the
    create's round trips). The reconciler never sends a row marked sent, so the row is sent
    once; if the send fails the mark is cleared and the reconciler sends it; if the process
    dies between the commit and the send, the step is rescued as any lost message is (see
    ``service.lifecycle.schedule``)."""
    now = utcnow()
    due = available_at or now
    relay = _sender is not None and due <= now + timedelta(seconds=NEAR_TERM_S)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    message_id = session.scalar(
        insert(OutboxMessage)
        .values(
            task=task,
            target_id=target_id,
            dedupe_key=dedupe_key,
            tenant_id=tenant_id,
            payload=payload or {},
            available_at=due,
            sent_at=now if relay else None,
            send_attempts=1 if relay else 0,
        )
        # Another transaction (or an earlier call) wrote the same key: its row stands for ours.
        .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
        .returning(OutboxMessage.id)
    )
    if message_id is None:
        return False
    if relay:
        pending = _Pending(message_id, task, target_id, dict(payload or {}), due, now)
        bind = session.get_bind()
        after_commit(session, lambda: _relay_after_commit(bind, pending))
    return True


@dataclass(frozen=True)
class _Pending:
    """A row just committed, as the relay sends it (no need to read it back)."""

    id: int
    task: str
    target_id: str
    payload: dict[str, Any]
    available_at: datetime
    marked_sent_at: datetime


def _relay_after_commit(bind: Any, message: _Pending) -> None:
    """Send a row committed as sent; on a broker failure clear the mark so that the reconciler
    sends it. Never fails the request: the row is committed either way."""
    sender = _sender
    try:
        if sender is None:
            raise RuntimeError("no task sender installed in this process")
        delay_s = max(0.0, (message.available_at - utcnow()).total_seconds())
        sender(message.task, message.target_id, dict(message.payload), delay_s)
    except Exception:
        log.warning("outbox relay failed; the reconciler will retry", exc_info=True)
        _unmark(bind, message)


def _unmark(bind: Any, message: _Pending) -> None:
    try:
        with Session(bind=bind) as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message.id,
                    OutboxMessage.sent_at == message.marked_sent_at,
                )
                .values(sent_at=None)
                .execution_options(synchronize_session=False)
            )
    except Exception:
        # Still marked sent: the step is rescued once it is overdue, as a lost message is.
        log.warning("could not clear the sent mark of outbox row %s", message.id, exc_info=True)


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
