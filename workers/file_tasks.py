"""Validation of large uploads, off the request path. The file is read between two short
transactions, never inside one: on the embedded database a transaction holds the write lock."""

from __future__ import annotations

from service.db.database import get_database
from service.db.session import session_scope
from service.files.service import (
    VALIDATE_TASK,
    pending_validation,
    store_validation,
    validation_report,
)
from service.settings import get_settings
from workers.celery_app import celery_app


@celery_app.task(name=VALIDATE_TASK)
def validate_file_task(file_id: str) -> None:
    settings = get_settings()
    with session_scope(get_database().sessions) as session:
        pending = pending_validation(session, file_id)
    if pending is None:
        return
    report = validation_report(pending.path, pending.provider, pending.model, settings)
    with session_scope(get_database().sessions) as session:
        store_validation(session, file_id, report)
