"""The step runner: the one place that runs a step of any kind.

load by id → claim the lease (heartbeat for long steps) → ``begin`` (locked, recorded) → ``act``
with no transaction open → re-lock → release the lease and ``finish`` (the kind's transition,
the next step through the outbox) in one transaction — or back off (Retry-After honoured), or
fail with a classified error. Every outcome releases the lease in the transaction that records
it, so a lease is never left behind by a rollback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db.session import session_scope
from service.db.types import utcnow
from service.lifecycle import leases, pacing, schedule
from service.lifecycle.kind import (
    Kind,
    Step,
    StepAbandoned,
    StepContext,
    StepFailed,
    StepRetry,
)
from service.settings import Settings

log = logging.getLogger(__name__)


def run_step(
    kind: Kind,
    step: Step[Any, Any],
    sessions: sessionmaker[Session],
    settings: Settings,
    row_id: str,
) -> None:
    """Run ``step`` on row ``row_id``; safe to call any number of times (a duplicate delivery
    finds the step no longer wanted, or the lease held)."""
    with session_scope(sessions) as session:
        row = session.get(kind.model, row_id)
        if row is None or kind.is_terminal(row) or not step.wanted(row):
            return
    owner = leases.new_owner()
    if not leases.claim(sessions, kind, row_id, owner, settings.lease_ttl_s):
        return
    with _heartbeat(step, sessions, kind, row_id, owner, settings.lease_ttl_s) as lost:
        ctx = StepContext(kind, sessions, settings, owner, lost)
        with session_scope(sessions) as session:
            row = _locked(session, kind, row_id)
            plan = None
            if row is not None and not kind.is_terminal(row) and row.lease_owner == owner:
                plan = step.begin(ctx, session, row)
            if plan is None:
                leases.release(row, owner)
                return
        try:
            result = step.act(ctx, plan)
        except StepAbandoned:
            _release(sessions, kind, row_id, owner)
            return
        except (StepRetry, StepFailed) as verdict:
            _settle(ctx, step, row_id, verdict)
            return
        except Exception as exc:
            _settle(ctx, step, row_id, _classified(kind, step, row_id, exc))
            return
    with session_scope(sessions) as session:
        row = _locked(session, kind, row_id)
        if row is None or row.lease_owner != owner:
            return  # the lease expired and someone else carries the work on
        leases.release(row, owner)
        if not kind.is_terminal(row):
            step.finish(ctx, session, row, result)


def _classified(
    kind: Kind, step: Step[Any, Any], row_id: str, exc: Exception
) -> StepRetry | StepFailed:
    verdict = kind.classify(exc)
    if verdict is None:  # a bug or an unexpected failure: retry later, never crash the worker
        log.exception("%s of %s %s failed unexpectedly", step.task, kind.name, row_id)
        return StepRetry(f"unexpected error: {exc}")
    return verdict


def _settle(
    ctx: StepContext, step: Step[Any, Any], row_id: str, verdict: StepRetry | StepFailed
) -> None:
    """Record a failed step in one transaction with the lease's release: end the row failed, or
    count the failure and schedule the step again after a backoff."""
    kind = ctx.kind
    with session_scope(ctx.sessions) as session:
        row = _locked(session, kind, row_id)
        if row is None or row.lease_owner != ctx.owner:
            return
        leases.release(row, ctx.owner)
        if kind.is_terminal(row):
            return
        if isinstance(verdict, StepFailed):
            kind.fail(session, ctx.settings, row, verdict)
            return
        log.info("%s of %s %s backs off: %s", step.task, kind.name, row_id, verdict.reason)
        failures = step.on_retry(ctx, session, row, verdict)
        now = utcnow()
        delay = pacing.backoff_s(failures, ctx.settings, verdict.retry_after)
        schedule.schedule(session, kind, row, pacing.after(now, delay), now=now)


def _locked(session: Session, kind: Kind, row_id: str) -> Any:
    """The row, fresh from the database and locked (PostgreSQL; SQLite serialises writers)."""
    query = select(kind.model).where(kind.model.id == row_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def _release(sessions: sessionmaker[Session], kind: Kind, row_id: str, owner: str) -> None:
    with session_scope(sessions) as session:
        leases.release(_locked(session, kind, row_id), owner)


@contextmanager
def _heartbeat(
    step: Step[Any, Any],
    sessions: sessionmaker[Session],
    kind: Kind,
    row_id: str,
    owner: str,
    ttl_s: float,
) -> Iterator[threading.Event]:
    if not step.heartbeat:
        yield threading.Event()
        return
    with leases.heartbeat(sessions, kind, row_id, owner, ttl_s) as lost:
        yield lost
