"""All SQL about studies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Job, Study
from service.errors import UnknownCursor


class StudyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, study: Study) -> Study:
        self.session.add(study)
        self.session.flush()
        return study

    def get_for_tenant(self, tenant_id: str, study_id: str) -> Study | None:
        study = self.session.get(Study, study_id)
        return study if study is not None and study.tenant_id == tenant_id else None

    def list_standalone(self, tenant_id: str, *, after: str | None, limit: int) -> list[Study]:
        """The tenant's studies that are no job's evaluation, newest first; ``after`` is the
        last id of the previous page."""
        attached = select(Job.id).where(Job.evaluation_study_id == Study.id).exists()
        query = select(Study).where(Study.tenant_id == tenant_id, ~attached)
        if after is not None:
            cursor = self.get_for_tenant(tenant_id, after)
            if cursor is None:
                raise UnknownCursor(after)
            query = query.where(
                (Study.created_at < cursor.created_at)
                | ((Study.created_at == cursor.created_at) & (Study.id < cursor.id))
            )
        query = query.order_by(Study.created_at.desc(), Study.id.desc())
        return list(self.session.scalars(query.limit(limit)))
