"""Thin Celery tasks: each reloads what it works on by id and calls into ``service``."""

from __future__ import annotations

import logging

from service.db.database import get_database
from service.db.session import session_scope
from service.outbox import relay_due
from workers.celery_app import celery_app
from workers.dispatch import send_task

log = logging.getLogger(__name__)


@celery_app.task(name="tuneforge.reconcile")
def reconcile() -> None:
    """Re-send every overdue outbox row, so a lost broker message only delays its work."""
    with session_scope(get_database().sessions) as session:
        sent = relay_due(session, send_task)
    if sent:
        log.info("reconciler re-sent %d outbox message(s)", sent)
