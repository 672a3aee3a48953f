"""The reconciler's backlog probe against the real broker of the backend under test (Redis with
the run's key prefix, or the embedded SQL broker): messages waiting are counted, an
unreachable broker says nothing (and is never taken for an idle one)."""

from __future__ import annotations

from service.settings import Settings
from workers.backlog import broker_idle, queued_messages
from workers.celery_app import create_celery


def test_waiting_messages_are_counted(settings: Settings) -> None:
    app = create_celery(settings)
    queue = f"probe-{settings.broker_key_prefix or 'embedded'}".replace(":", "-")
    assert queued_messages(app, queue) == 0  # a queue nobody used yet is idle
    with app.connection_for_write() as connection:
        for _ in range(3):
            app.send_task("tuneforge.probe", args=["x"], queue=queue, connection=connection)
    assert queued_messages(app, queue) == 3


def test_an_unreachable_broker_is_not_idle(settings: Settings) -> None:
    app = create_celery(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}))
    app.conf.broker_connection_timeout = 0.5
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    assert queued_messages(app) is None
    assert broker_idle(app) is False
