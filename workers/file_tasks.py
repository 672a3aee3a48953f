"""Validation of large uploads, off the request path."""

from __future__ import annotations

from service.db.database import get_database
from service.db.session import session_scope
from service.files.service import VALIDATE_TASK, validate_pending
from service.settings import get_settings
from workers.celery_app import celery_app


@celery_app.task(name=VALIDATE_TASK)
def validate_file_task(file_id: str) -> None:
    with session_scope(get_database().sessions) as session:
        validate_pending(session, get_settings(), file_id)
