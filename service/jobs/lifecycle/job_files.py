"""The stored files a job trains on, as its launch (provider or local) needs them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import File, Job
from service.jobs.repository import JobRepository
from service.jobs.transitions import FAILED, transition
from service.settings import Settings


def files_or_fail(
    session: Session, settings: Settings, job: Job, repository: JobRepository
) -> dict[str, File] | None:
    """``{"training": File, "validation": File}`` (validation only when the job has one); when
    one is gone the job fails naming the missing file and ``None`` is returned."""
    wanted = {"training": job.training_file_id, "validation": job.validation_file_id}
    files: dict[str, File] = {}
    for kind, file_id in wanted.items():
        if file_id is None:
            continue
        file = repository.file(file_id)
        if file is None or file.deleted_at is not None:
            transition(
                session,
                job,
                FAILED,
                settings=settings,
                reason="file deleted",
                error={
                    "code": "file_not_found",
                    "param": f"{kind}_file",
                    "message": f"File {file_id} no longer exists.",
                },
            )
            return None
        files[kind] = file
    return files
