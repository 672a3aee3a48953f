"""SQL for uploaded files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import File, Job
from service.errors import UnknownCursor


class FileRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, file: File) -> File:
        self.session.add(file)
        self.session.flush()
        return file

    def get(self, tenant_id: str, file_id: str, *, lock: bool = False) -> File | None:
        query = select(File).where(
            File.id == file_id, File.tenant_id == tenant_id, File.deleted_at.is_(None)
        )
        if lock and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalars(query).first()

    def named(self, tenant_id: str, file_ids: list[str], filename: str) -> File | None:
        """The file among ``file_ids`` called ``filename`` (a job's result files by name)."""
        if not file_ids:
            return None
        return self.session.scalars(
            select(File).where(
                File.id.in_(file_ids),
                File.tenant_id == tenant_id,
                File.filename == filename,
                File.deleted_at.is_(None),
            )
        ).first()

    def get_any_tenant(self, file_id: str) -> File | None:
        return self.session.scalars(
            select(File).where(File.id == file_id, File.deleted_at.is_(None))
        ).first()

    def page(
        self, tenant_id: str, *, purpose: str | None, after: str | None, limit: int, order: str
    ) -> list[File]:
        query = select(File).where(File.tenant_id == tenant_id, File.deleted_at.is_(None))
        if purpose:
            query = query.where(File.purpose == purpose)
        descending = order == "desc"
        if after is not None:
            anchor = self.get(tenant_id, after)
            if anchor is None:
                raise UnknownCursor(after)
            if anchor is not None:
                key = (anchor.created_at, anchor.id)
                if descending:
                    query = query.where(
                        (File.created_at < key[0])
                        | ((File.created_at == key[0]) & (File.id < key[1]))
                    )
                else:
                    query = query.where(
                        (File.created_at > key[0])
                        | ((File.created_at == key[0]) & (File.id > key[1]))
                    )
        ordering = (
            (File.created_at.desc(), File.id.desc())
            if descending
            else (File.created_at.asc(), File.id.asc())
        )
        return list(self.session.scalars(query.order_by(*ordering).limit(limit)))

    def used_by_active_job(self, file: File) -> bool:
        active = ("validating_files", "queued", "running")
        query = select(Job.id).where(
            Job.tenant_id == file.tenant_id,
            Job.status.in_(active),
            (Job.training_file_id == file.id) | (Job.validation_file_id == file.id),
        )
        return self.session.scalars(query.limit(1)).first() is not None
