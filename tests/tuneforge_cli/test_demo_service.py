"""``tuneforge demo`` uses a service already on its port only if it is the demo's own: another
program, or a tuneforge with another database, is named and refused."""

from __future__ import annotations

import socket
from pathlib import Path

from service.db import migrations
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import make_key, make_tenant
from tests.live import free_port, live_api
from tuneforge_cli.demo import foreign_service_problem


def _key_in(database: Database) -> str:
    with session_scope(database.sessions) as session:
        return make_key(session, make_tenant(session))


def test_a_tuneforge_with_another_database_is_named_not_used(
    settings: Settings, committed_db: Database, tmp_path: Path
) -> None:
    own = Settings(environment="test", data_dir=tmp_path, _env_file=None)
    migrations.upgrade(own)
    own_db = Database.from_url(own.database_url)
    try:
        demo_key = _key_in(own_db)
    finally:
        own_db.engine.dispose()
    with live_api(settings, committed_db) as base:
        port = int(base.rsplit(":", 1)[1])
        problem = foreign_service_problem(base, port, demo_key, own.database_url)
        assert problem is not None
        assert "another database" in problem and own.database_url in problem
        assert "--port" in problem
        # the same service with a key of its own database is the demo's: used
        assert foreign_service_problem(base, port, _key_in(committed_db), "x") is None


def test_another_program_on_the_port_is_named() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        problem = foreign_service_problem(f"http://127.0.0.1:{port}", port, "key", "db")
    assert problem is not None and f"port {port} is taken" in problem


def test_a_free_port_is_no_problem() -> None:
    port = free_port()
    assert foreign_service_problem(f"http://127.0.0.1:{port}", port, "key", "db") is None


def test_the_demo_worker_serves_every_queue() -> None:
    """Deliveries have a queue of their own: a demo worker without it would never send one."""
    from tuneforge_cli.demo import DEMO_WORKER_QUEUES
    from workers.celery_app import QUEUES

    assert set(DEMO_WORKER_QUEUES.split(",")) == set(QUEUES)
