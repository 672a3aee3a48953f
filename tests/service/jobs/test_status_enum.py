"""Job statuses are ``JobStatus`` members end to end: the column refuses any other value at the
database boundary and reads back members; the transition table allows forward moves, a pause
and its resume, and nothing out of a terminal status."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.db.models import Job
from service.db.types import utcnow
from service.jobs.lifecycle.kind import JOB
from service.jobs.transitions import MOVES, InvalidTransition, can_move, transition
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.jobs.helpers import make_file


def _job(session: Session, settings: Settings, status: str = "queued") -> Job:
    tenant = make_tenant(session)
    file = make_file(session, settings, tenant)
    job = Job(
        tenant_id=tenant.id,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        status=status,
        method={"type": "supervised"},
        training_file_id=file.id,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def test_the_status_column_reads_back_enum_members(db_session: Session, settings: Settings) -> None:
    job = _job(db_session, settings)
    db_session.expire_all()
    status = db_session.scalar(select(Job.status).where(Job.id == job.id))
    assert type(status) is JobStatus and status is JobStatus.QUEUED
    assert db_session.scalar(select(Job.id).where(Job.status == "queued")) == job.id


def test_a_status_outside_the_enum_never_reaches_the_database(
    db_session: Session, settings: Settings
) -> None:
    job = _job(db_session, settings)
    with pytest.raises(StatementError, match="'done' is not a JobStatus"):
        db_session.execute(update(Job).where(Job.id == job.id).values(status="done"))
    db_session.rollback()
    with pytest.raises(StatementError, match="not a JobStatus"):
        _job(db_session, settings, status="Running")


def test_the_move_table_covers_every_status_and_a_terminal_one_never_moves(
    db_session: Session, settings: Settings
) -> None:
    assert set(MOVES) == set(JobStatus)
    for status in JOB.terminal:
        assert MOVES[JobStatus(status)] == frozenset()
    assert can_move("queued", "succeeded") and can_move(JobStatus.RUNNING, JobStatus.PAUSING)
    assert can_move("pausing", "paused") and can_move("paused", "queued")
    assert can_move("paused", "running") and can_move("paused", "cancelled")
    assert not can_move("queued", "paused") and not can_move("running", "queued")
    assert not can_move("nonsense", "running") and not can_move("running", "nonsense")
    assert set(JOB.active) == {s for s in JobStatus if s not in JOB.terminal}

    job = _job(db_session, settings)
    with pytest.raises(InvalidTransition):
        transition(db_session, job, JobStatus.PAUSED, reason="not running", settings=settings)
    transition(db_session, job, JobStatus.RUNNING, reason="go", settings=settings)
    transition(db_session, job, JobStatus.PAUSING, reason="asked", settings=settings)
    transition(db_session, job, JobStatus.PAUSED, reason="stopped", settings=settings)
    transition(db_session, job, JobStatus.QUEUED, reason="resumed", settings=settings)
    assert job.status is JobStatus.QUEUED
