"""A job whose training file is gone fails naming it, instead of launching without data."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import File
from service.db.types import utcnow
from service.jobs.lifecycle.job_files import files_or_fail
from service.jobs.repository import JobRepository
from service.settings import Settings
from tests.service.webhooks.helpers import tenant_and_job


def test_present_files_are_returned_by_kind(db_session: Session, settings: Settings) -> None:
    _, job = tenant_and_job(db_session, status="validating_files")
    files = files_or_fail(db_session, settings, job, JobRepository(db_session))
    assert files is not None and list(files) == ["training"]
    assert files["training"].id == job.training_file_id


def test_a_deleted_training_file_fails_the_job(db_session: Session, settings: Settings) -> None:
    _, job = tenant_and_job(db_session, status="validating_files")
    training = db_session.get(File, job.training_file_id)
    assert training is not None
    training.deleted_at = utcnow()
    assert files_or_fail(db_session, settings, job, JobRepository(db_session)) is None
    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] == "file_not_found" and job.error["param"] == "training_file"
