"""A finished local job's result files (adapter, tokenizer, merged model), served by name.
Only the job's result files (file rows listed in ``result_files``) are served, and only from
inside the job's artifacts folder; ``GET /v1/files/{id}/content`` serves the same by id."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from service.errors import NotFound
from service.files.repository import FileRepository
from service.jobs.repository import JobRepository
from service.settings import Settings


def result_file_path(
    session: Session, settings: Settings, tenant_id: str, job_id: str, name: str
) -> Path:
    """The file on disk for ``name`` (as listed in the job's ``result_files``); 404 otherwise."""
    job = JobRepository(session).get_for_tenant(tenant_id, job_id)
    if job is None:
        raise NotFound(f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id")
    missing = NotFound(f"Job {job.id} has no result file '{name}'.", param="name")
    listed = FileRepository(session).named(tenant_id, list(job.result_files or []), name)
    if listed is None:
        raise missing
    folder = (settings.artifacts_dir / job.id).resolve()
    path = Path(listed.storage_path).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise missing
    return path
