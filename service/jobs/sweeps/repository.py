"""SQL for sweeps: their rows, the jobs each one watches, and the few job rows a round
changes (which detailed polls it brings forward)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.credentials.repository import CredentialRepository
from service.db.models import Job, ProviderCredential, ProviderSweep
from service.jobs.sweeps.compare import Watched
from service.jobs.sweeps.kind import SWEEP, SweepStatus
from service.jobs.transitions import ACTIVE
from service.lifecycle import schedule
from service.settings import Settings


def sweep_id(provider: str, tenant_id: str | None) -> str:
    return f"sweep-{provider}-{tenant_id or 'operator'}"


def credential_owner(session: Session, tenant_id: str, provider: str) -> str | None:
    """Whose key the tenant's jobs on ``provider`` use: its own (its id), else the operator's
    (None), as ``credentials_for`` decides."""
    return tenant_id if CredentialRepository(session).get(tenant_id, provider) else None


def ensure_sweep(
    session: Session, settings: Settings, provider: str, tenant_id: str | None, now: datetime
) -> None:
    """The sweep of this credential exists, and one that is dormant or watched no job at its
    last round runs within its shortest interval (a new job is seen soon): two statements, no
    row read. A sweep already watching jobs keeps its own cadence (every job's poll calls this:
    pulling the round forward each time would spend the list budget many times over) and a
    sweep backing off after a failure keeps its backoff."""
    identifier = sweep_id(provider, tenant_id)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(ProviderSweep)
        .values(
            id=identifier,
            provider=provider,
            tenant_id=tenant_id,
            status=SweepStatus.ACTIVE.value,
            rounds=0,
            pages=0,
            listed=0,
            active_jobs=0,
            failures=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[ProviderSweep.id])
    )
    soon = now + timedelta(seconds=min(settings.sweep_min_interval_s, settings.job_poll_min_s))
    session.execute(
        update(ProviderSweep)
        .where(
            ProviderSweep.id == identifier,
            ProviderSweep.status == SweepStatus.ACTIVE.value,
            or_(
                ProviderSweep.next_sweep_at.is_(None),
                and_(
                    ProviderSweep.next_sweep_at > soon,
                    ProviderSweep.active_jobs == 0,
                    ProviderSweep.failures == 0,
                ),
            ),
        )
        .values(next_sweep_at=soon)
        .execution_options(synchronize_session=False)
    )


def watched_jobs(session: Session, sweep: ProviderSweep) -> list[Watched]:
    """Our active jobs on the sweep's credential whose next step is a poll (a cancel still to
    send is the cancel step's)."""
    query = select(
        Job.id,
        Job.tenant_id,
        Job.provider_job_id,
        Job.status,
        Job.provider_status,
        Job.provider_progress,
        Job.started_at,
        Job.next_poll_at,
    ).where(
        Job.provider == sweep.provider,
        Job.status.in_(ACTIVE),
        Job.provider_job_id.is_not(None),
        or_(Job.cancel_requested_at.is_(None), Job.cancel_sent_at.is_not(None)),
    )
    own_keys = select(ProviderCredential.tenant_id).where(
        ProviderCredential.provider == sweep.provider
    )
    if sweep.tenant_id is not None:
        query = query.where(Job.tenant_id == sweep.tenant_id, Job.tenant_id.in_(own_keys))
    else:
        query = query.where(Job.tenant_id.not_in(own_keys))
    return [
        Watched(
            id=row.id,
            tenant_id=row.tenant_id,
            provider_job_id=str(row.provider_job_id),
            status=row.status,
            provider_status=row.provider_status,
            progress=row.provider_progress,
            started_at=row.started_at,
            next_poll_at=row.next_poll_at,
        )
        for row in session.execute(query)
    ]


def poll_by(session: Session, job_id: str, at: datetime) -> bool:
    """Bring the job's next poll forward to ``at`` (never later than it already is)."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(ACTIVE),
            or_(Job.next_poll_at.is_(None), Job.next_poll_at > at),
        )
        .values(next_poll_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def poll_many_by(session: Session, due: Sequence[tuple[str, datetime]]) -> None:
    """``poll_by`` for many jobs in one executemany: a round over thousands of running jobs
    whose provider estimates moved brings all their polls forward in one statement."""
    if not due:
        return
    table = cast(Table, Job.__table__)
    jobs = table.c
    session.connection().execute(
        update(table)
        .where(
            and_(
                jobs.id == bindparam("job_id"),
                jobs.status.in_(ACTIVE),
                or_(jobs.next_poll_at.is_(None), jobs.next_poll_at > bindparam("at")),
            )
        )
        .values(next_poll_at=bindparam("at")),
        [{"job_id": job_id, "at": at} for job_id, at in due],
    )


def record_progress(session: Session, progress: Sequence[tuple[str, str]]) -> None:
    """Store first-seen progress on rows that had none (jobs from before sweeps)."""
    if not progress:
        return
    table = cast(Table, Job.__table__)
    jobs = table.c
    # Core executemany (one statement, many rows), not the ORM's bulk update by primary key.
    session.connection().execute(
        update(table)
        .where(and_(jobs.id == bindparam("job_id"), jobs.provider_progress.is_(None)))
        .values(provider_progress=bindparam("progress")),
        [{"job_id": job_id, "progress": value} for job_id, value in progress],
    )


def schedule_round(session: Session, sweep: ProviderSweep, at: datetime, now: datetime) -> None:
    schedule.schedule(session, SWEEP, sweep, at, now=now)
