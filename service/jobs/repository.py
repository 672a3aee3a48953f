"""All SQL about jobs, their events, metrics and checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, File, Job, JobEvent, Metric
from service.errors import UnknownCursor


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # --- jobs -----------------------------------------------------------------------------

    def add(self, job: Job) -> Job:
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: str, *, lock: bool = False) -> Job | None:
        query = select(Job).where(Job.id == job_id)
        if lock and self._postgres:
            query = query.with_for_update()
        return self.session.scalars(query.execution_options(populate_existing=True)).first()

    def get_for_tenant(self, tenant_id: str, job_id: str) -> Job | None:
        return self.session.scalars(
            select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)
        ).first()

    def list_for_tenant(
        self,
        tenant_id: str,
        *,
        after: str | None,
        limit: int,
        metadata: Mapping[str, str],
    ) -> list[Job]:
        """Newest first, as OpenAI pages them; ``after`` is the last id of the previous page."""
        query = select(Job).where(Job.tenant_id == tenant_id)
        if after is not None:
            anchor = self.get_for_tenant(tenant_id, after)
            if anchor is None:
                raise UnknownCursor(after)
            if anchor is not None:
                query = query.where(
                    or_(
                        Job.created_at < anchor.created_at,
                        (Job.created_at == anchor.created_at) & (Job.id < anchor.id),
                    )
                )
        query = query.order_by(Job.created_at.desc(), Job.id.desc())
        if not metadata:
            return list(self.session.scalars(query.limit(limit)))
        # Metadata is a JSON document; filter in Python page by page to stay portable.
        found: list[Job] = []
        offset, batch = 0, max(limit * 4, 100)
        while len(found) < limit:
            rows = list(self.session.scalars(query.offset(offset).limit(batch)))
            found += [job for job in rows if _matches(job.user_metadata, metadata)]
            if len(rows) < batch:
                break
            offset += batch
        return found[:limit]

    # --- files ----------------------------------------------------------------------------

    def file_for_tenant(self, tenant_id: str, file_id: str) -> File | None:
        return self.session.scalars(
            select(File).where(
                File.id == file_id, File.tenant_id == tenant_id, File.deleted_at.is_(None)
            )
        ).first()

    def file(self, file_id: str) -> File | None:
        return self.session.get(File, file_id)

    # --- events, metrics, checkpoints ----------------------------------------------------

    def events(self, job_id: str, *, after: str | None, limit: int) -> list[JobEvent]:
        """Newest first (OpenAI's order); ``after`` is an event id from the previous page."""
        query = select(JobEvent).where(JobEvent.job_id == job_id)
        if after is not None:
            anchor = self.session.scalars(
                select(JobEvent.seq).where(JobEvent.job_id == job_id, JobEvent.id == after)
            ).first()
            if anchor is None:
                raise UnknownCursor(after)
            query = query.where(JobEvent.seq < anchor)
        return list(self.session.scalars(query.order_by(JobEvent.seq.desc()).limit(limit)))

    def last_provider_event_id(self, job_id: str) -> str | None:
        return self.session.scalars(
            select(JobEvent.provider_event_id)
            .where(JobEvent.job_id == job_id, JobEvent.provider_event_id.is_not(None))
            .order_by(JobEvent.seq.desc())
            .limit(1)
        ).first()

    def provider_event_ids(self, job_id: str, candidates: Sequence[str]) -> set[str]:
        if not candidates:
            return set()
        rows = self.session.scalars(
            select(JobEvent.provider_event_id).where(
                JobEvent.job_id == job_id, JobEvent.provider_event_id.in_(list(candidates))
            )
        )
        return {row for row in rows if row is not None}

    def checkpoints(self, job_id: str, *, after: str | None, limit: int) -> list[Checkpoint]:
        query = select(Checkpoint).where(Checkpoint.job_id == job_id)
        if after is not None:
            anchor = self.session.get(Checkpoint, after)
            if anchor is None or anchor.job_id != job_id:
                raise UnknownCursor(after)
            query = query.where(Checkpoint.step < anchor.step)
        return list(self.session.scalars(query.order_by(Checkpoint.step.desc()).limit(limit)))

    def checkpoint_for_tenant(self, tenant_id: str, checkpoint_id: str) -> Checkpoint | None:
        return self.session.scalars(
            select(Checkpoint).where(
                Checkpoint.id == checkpoint_id, Checkpoint.tenant_id == tenant_id
            )
        ).first()

    def checkpoint_steps(self, job_id: str) -> set[int]:
        return set(self.session.scalars(select(Checkpoint.step).where(Checkpoint.job_id == job_id)))

    def metric_keys(self, job_id: str) -> set[tuple[int, str]]:
        rows = self.session.execute(
            select(Metric.step, Metric.name).where(Metric.job_id == job_id)
        ).all()
        return {(int(step), str(name)) for step, name in rows}

    def count_events(self, job_id: str) -> int:
        return int(self.session.scalar(select(func.count()).where(JobEvent.job_id == job_id)) or 0)


def _matches(document: dict[str, Any] | None, wanted: Mapping[str, str]) -> bool:
    document = document or {}
    return all(str(document.get(key)) == value for key, value in wanted.items())
