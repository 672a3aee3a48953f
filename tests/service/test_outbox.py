"""Sent outbox rows are pruned after their retention, in bounded batches; unsent ones never."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import outbox
from service.db.models import OutboxMessage
from service.db.types import utcnow


def _row(session: Session, key: str, sent_at: datetime | None) -> None:
    session.add(
        OutboxMessage(
            task="tuneforge.poll_job",
            target_id="ftjob-x",
            dedupe_key=key,
            available_at=utcnow() - timedelta(days=3),
            sent_at=sent_at,
        )
    )


def _keys(session: Session) -> set[str]:
    return set(session.scalars(select(OutboxMessage.dedupe_key)))


def test_prune_deletes_only_sent_rows_older_than_the_cutoff_in_bounded_batches(
    db_session: Session,
) -> None:
    now = utcnow()
    for i in range(5):
        _row(db_session, f"old-sent-{i}", now - timedelta(days=2, minutes=i))
    _row(db_session, "recent-sent", now - timedelta(minutes=5))
    _row(db_session, "old-unsent", None)
    db_session.flush()
    cutoff = now - timedelta(days=1)

    assert outbox.prune_sent(db_session, cutoff, limit=3) == 3
    # The oldest go first.
    assert {k for k in _keys(db_session) if k.startswith("old-sent")} == {
        "old-sent-0",
        "old-sent-1",
    }
    assert outbox.prune_sent(db_session, cutoff, limit=3) == 2
    assert outbox.prune_sent(db_session, cutoff, limit=3) == 0
    assert _keys(db_session) == {"recent-sent", "old-unsent"}
