"""Near-term steps are written to the outbox at once and sent with a countdown to their due
time; the reconciler does not send them again while they are live, and rescues them under a
fresh key once they are overdue by ``rescue_after``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service import outbox
from service.db.database import Database
from service.db.models import Job, OutboxMessage
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.lifecycle import steps
from service.jobs.lifecycle.kind import JOB
from service.jobs.transitions import RUNNING
from service.lifecycle.reconcile import enqueue_due, rescue_after_s, rescue_number
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.jobs.helpers import make_file

Sent = list[tuple[str, str, float]]


@pytest.fixture()
def sent() -> Iterator[Sent]:
    """The broker's side of the outbox, recorded: (task, target id, countdown seconds)."""
    record: Sent = []
    previous = outbox.current_sender()
    outbox.install_sender(_recorder(record))
    yield record
    outbox.install_sender(previous)


def _recorder(record: Sent) -> outbox.TaskSender:
    def sender(task: str, target_id: str, payload: dict[str, Any], delay_s: float) -> None:
        record.append((task, target_id, delay_s))

    return sender


def _running_job(session: Session, settings: Settings) -> Job:
    tenant = make_tenant(session)
    file = make_file(session, settings, tenant)
    now = utcnow()
    job = Job(
        id=f"ftjob-steps{file.id[-12:]}",
        tenant_id=tenant.id,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        provider_job_id=f"ftjob-provider-{file.id[-12:]}",
        status=RUNNING,
        provider_status="running",
        method={"type": "supervised"},
        hyperparameters={},
        provider_options={},
        training_file_id=file.id,
        provider_file_ids={"training_file": "emulated"},
        user_metadata={},
        result_files=[],
        seed=1,
        started_at=now,
    )
    session.add(job)
    session.flush()
    return job


def _schedule(database: Database, settings: Settings, seconds_from_now: float) -> str:
    with session_scope(database.sessions) as session:
        job = _running_job(session, settings)
        now = utcnow()
        steps.schedule(session, job, now + timedelta(seconds=seconds_from_now), now=now)
        return job.id


def _rows(database: Database, job_id: str) -> list[OutboxMessage]:
    with session_scope(database.sessions) as session:
        query = select(OutboxMessage).where(OutboxMessage.target_id == job_id)
        rows = list(session.scalars(query.order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def _reconcile(
    database: Database, settings: Settings, at: datetime, sent: Sent, *, broker_idle: bool = False
) -> None:
    with session_scope(database.sessions) as session:
        enqueue_due(session, settings, (JOB,), at, broker_idle=broker_idle)
        outbox.relay_due(session, _recorder(sent), at)


def test_a_near_term_step_is_written_now_and_sent_with_a_countdown(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    job_id = _schedule(committed_db, settings, 20)

    [row] = _rows(committed_db, job_id)
    assert row.available_at > utcnow() + timedelta(seconds=15)
    assert row.sent_at is not None
    [(task, target, delay_s)] = sent
    assert (task, target) == (steps.POLL_TASK, job_id)
    assert 15 < delay_s <= 20


def test_a_far_step_is_left_to_the_reconciler(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    job_id = _schedule(committed_db, settings, outbox.NEAR_TERM_S + 60)

    assert _rows(committed_db, job_id) == []
    assert sent == []


def test_a_far_step_due_before_the_next_tick_is_sent_now_with_a_countdown(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    now = utcnow()
    with session_scope(committed_db.sessions) as session:
        # Far steps have no outbox row: each is left to the reconciler until its time comes.
        soon, later = _running_job(session, settings), _running_job(session, settings)
        soon.next_poll_at = now + timedelta(seconds=settings.reconcile_interval_s / 2)
        later.next_poll_at = now + timedelta(seconds=settings.reconcile_interval_s * 3)
        soon_id, later_id = soon.id, later.id

    _reconcile(committed_db, settings, now, sent)

    [(task, target, delay_s)] = sent
    assert (task, target) == (steps.POLL_TASK, soon_id)
    assert 0 < delay_s <= settings.reconcile_interval_s / 2
    assert _rows(committed_db, later_id) == []
    # At the next tick the step is due: the message already sent stands.
    _reconcile(committed_db, settings, now + timedelta(seconds=settings.reconcile_interval_s), sent)
    assert len(sent) == 1


def test_the_reconciler_does_not_resend_a_live_step_but_rescues_an_overdue_one(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    job_id = _schedule(committed_db, settings, 10)
    assert len(sent) == 1
    due = utcnow() + timedelta(seconds=10)

    # Due but not yet overdue by rescue_after: the message sent with its countdown stands.
    _reconcile(committed_db, settings, due + timedelta(seconds=1), sent)
    assert len(sent) == 1
    assert len(_rows(committed_db, job_id)) == 1

    # Overdue by rescue_after (the worker holding the countdown message died): a fresh key.
    _reconcile(committed_db, settings, due + timedelta(seconds=rescue_after_s(settings) + 1), sent)
    assert [(task, target) for task, target, _ in sent] == [(steps.POLL_TASK, job_id)] * 2
    assert sent[1][2] == 0.0
    keys = [row.dedupe_key for row in _rows(committed_db, job_id)]
    assert len(set(keys)) == 2

    # Still waiting (a backlogged queue): the next rescue comes at 3x rescue_after, not 2x.
    rescue_after = rescue_after_s(settings)
    _reconcile(committed_db, settings, due + timedelta(seconds=2 * rescue_after + 1), sent)
    assert len(sent) == 2
    _reconcile(committed_db, settings, due + timedelta(seconds=3 * rescue_after + 1), sent)
    assert len(sent) == 3


def test_rescues_come_after_doubling_waits() -> None:
    assert [rescue_number(s, 10.0) for s in (0, 9.9, 10, 29.9, 30, 69.9, 70, 150)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        4,
    ]


def test_an_unsent_near_term_row_is_sent_by_the_relay_once_due(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    outbox.install_sender(None)  # no broker in this process: the row waits, committed
    job_id = _schedule(committed_db, settings, 5)
    [row] = _rows(committed_db, job_id)
    assert row.sent_at is None

    with session_scope(committed_db.sessions) as session:
        assert outbox.relay_due(session, _recorder(sent), utcnow()) == 0  # not due yet
        assert outbox.relay_due(session, _recorder(sent), row.available_at) == 1
    assert [(task, target) for task, target, _ in sent] == [(steps.POLL_TASK, job_id)]


def test_after_an_outage_a_due_step_runs_again_within_one_reconcile_interval(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    """The broker holds no backlog, yet the step is still due an interval after its time: its
    message failed (the database was down when it ran) or was lost (the broker was flushed). It
    is sent again at the next tick, not after the rescue wait meant for backlogged queues."""
    job_id = _schedule(committed_db, settings, 0)
    assert len(sent) == 1  # the step's own message, then lost in the outage
    due = utcnow()
    later = due + timedelta(seconds=settings.reconcile_interval_s + 0.5)
    assert (later - due).total_seconds() < rescue_after_s(settings)

    # With a backlog the overdue step waits for the usual rescue (a live message is not doubled).
    _reconcile(committed_db, settings, later, sent)
    assert len(sent) == 1

    _reconcile(committed_db, settings, later, sent, broker_idle=True)
    assert [(task, target) for task, target, _ in sent] == [(steps.POLL_TASK, job_id)] * 2


def test_a_relay_the_broker_refuses_leaves_the_row_unsent_for_the_reconciler(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    """The row is committed marked sent (so its relay needs no transaction of its own); when
    the send fails the mark is cleared and the reconciler's relay sends it."""

    def broker_down(task: str, target_id: str, payload: dict[str, Any], delay_s: float) -> None:
        raise ConnectionError("broker unreachable")

    outbox.install_sender(broker_down)
    job_id = _schedule(committed_db, settings, 0)
    [row] = _rows(committed_db, job_id)
    assert row.sent_at is None
    assert row.send_attempts == 1

    with session_scope(committed_db.sessions) as session:
        assert outbox.relay_due(session, _recorder(sent), utcnow()) == 1
    assert [(task, target) for task, target, _ in sent] == [(steps.POLL_TASK, job_id)]
    [row] = _rows(committed_db, job_id)
    assert row.sent_at is not None


def test_a_relayed_row_is_written_sent_in_the_transaction_that_writes_it(
    committed_db: Database, settings: Settings, sent: Sent
) -> None:
    """Relaying a near-term row after commit runs no statement of its own."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(committed_db.engine, "before_cursor_execute", record)
    try:
        with session_scope(committed_db.sessions) as session:
            job = _running_job(session, settings)
            now = utcnow()
            steps.schedule(session, job, now, now=now)
            statements.clear()
        job_id = job.id
    finally:
        event.remove(committed_db.engine, "before_cursor_execute", record)
    assert statements == []  # the commit and the send after it: no UPDATE claiming the row
    assert [(task, target) for task, target, _ in sent] == [(steps.POLL_TASK, job_id)]
    [row] = _rows(committed_db, job_id)
    assert row.sent_at is not None
