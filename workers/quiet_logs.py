"""Routine periodic work is quiet at INFO: Celery announces every beat send, receipt and
success of the reconciler (two or three INFO lines every few seconds on an idle service), which
buries what happens. Those lines go to DEBUG level only; failures still log as usual."""

from __future__ import annotations

import logging

ROUTINE_TASKS = ("tuneforge.reconcile",)
CELERY_CHATTER = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


class QuietRoutineTasks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in CELERY_CHATTER:
            return True
        message = record.getMessage()
        if not any(task in message for task in ROUTINE_TASKS):
            return True
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def install() -> None:
    """Add the filter to every handler of the root logger (where Celery's loggers end up)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietRoutineTasks) for f in handler.filters):
            handler.addFilter(QuietRoutineTasks())
