"""An idle service is quiet at INFO: Celery's per-tick lines about the reconciler (beat's
"Sending due task", the worker's "received" and "succeeded") are dropped at INFO, shown at
DEBUG; other tasks' lines and any failure still log. Through the process's real logging setup
(``configure_logging``) and Celery's own logger names and messages."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from service.observability.logs import configure_logging
from service.settings import Settings
from workers import quiet_logs

TICK = [
    ("celery.beat", "Scheduler: Sending due task %s (%s)", ("reconcile", "tuneforge.reconcile")),
    ("celery.worker.strategy", "Task %s[%s] received", ("tuneforge.reconcile", "a1")),
    (
        "celery.app.trace",
        "Task %s[%s] succeeded in %ss: %s",
        ("tuneforge.reconcile", "a1", 0.01, None),
    ),
]


@pytest.fixture()
def captured(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(settings.model_copy(update={"log_level": "INFO", "log_format": "text"}))
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    quiet_logs.install()
    try:
        yield stream
    finally:
        for existing in list(root.handlers):
            root.removeHandler(existing)
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)


def _emit(name: str, message: str, args: tuple[object, ...], level: int = logging.INFO) -> None:
    logging.getLogger(name).log(level, message, *args)


def test_idle_ticks_of_the_reconciler_are_quiet_at_info(captured: io.StringIO) -> None:
    for _ in range(3):
        for name, message, args in TICK:
            _emit(name, message, args)
    assert captured.getvalue() == ""


def test_other_tasks_and_failures_still_log(captured: io.StringIO) -> None:
    _emit("celery.worker.strategy", "Task %s[%s] received", ("tuneforge.launch_job", "b2"))
    _emit(
        "celery.app.trace",
        "Task %s[%s] raised unexpected: %r",
        ("tuneforge.reconcile", "c3", RuntimeError("database down")),
        logging.ERROR,
    )
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    assert "tuneforge.launch_job" in lines[0] and "database down" in lines[1]


def test_debug_shows_the_ticks(captured: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.DEBUG)
    name, message, args = TICK[0]
    _emit(name, message, args)
    assert "Sending due task reconcile" in captured.getvalue()
