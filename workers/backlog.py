"""How many messages wait in the broker's default queue: the reconciler's test of whether an
overdue step is queued behind others (a backlog) or was lost."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from workers.celery_app import DEFAULT_QUEUE

log = logging.getLogger(__name__)

IDLE_BELOW = 100
"""Fewer messages than this drain within a reconcile interval: the queue holds no backlog."""


def queued_messages(app: Celery, queue: str = DEFAULT_QUEUE) -> int | None:
    """Messages waiting (all priorities), or None when the broker cannot say right now."""
    try:
        with app.connection_for_read() as connection:
            channel: Any = connection.default_channel  # kombu's virtual channel (Redis, SQL)
            # Not passive: Redis drops an empty list, and an empty queue is the idle case.
            declared = channel.queue_declare(queue=queue, passive=False)
            return int(declared.message_count)
    except Exception:
        log.warning("could not read the length of queue %s", queue, exc_info=True)
        return None


def broker_idle(app: Celery) -> bool:
    waiting = queued_messages(app)
    return waiting is not None and waiting < IDLE_BELOW
