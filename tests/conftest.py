"""Shared fixtures: one migrated database per test run (real migrations, PostgreSQL or SQLite per
``TUNEFORGE_TEST_BACKEND``), each test isolated in a transaction that is rolled back; tests that
need committed data (worker processes, a live server) use ``committed_db`` which empties the
tables afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from service.api.app import create_app
from service.db import migrations
from service.db.database import Database
from service.db.models import Base
from service.settings import Settings
from tests.backends import Backend, provision


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with provision(tmp_path_factory.mktemp("backend")) as provisioned:
        yield provisioned


@pytest.fixture(scope="session")
def settings(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=backend.database_url,
        broker_url=backend.broker_url,
        broker_key_prefix=backend.broker_key_prefix,
        webhook_allow_http=True,
        webhook_allow_private=True,
        webhook_allow_any_port=True,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    migrations.upgrade(settings)
    db = Database.from_url(settings.database_url)
    yield db
    db.engine.dispose()


@pytest.fixture()
def connection(database: Database) -> Iterator[Connection]:
    with database.engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture()
def db_session(connection: Connection) -> Iterator[Session]:
    """A session inside the test's rolled-back transaction; ``commit()`` only releases a
    savepoint, so code under test can commit as it does in production."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture()
def app(settings: Settings, database: Database, connection: Connection) -> FastAPI:
    application = create_app(settings, database)

    def _session() -> Session:
        return Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    application.state.session_factory = _session
    return application


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def committed_db(database: Database) -> Iterator[Database]:
    """For tests whose data must be visible to other processes: real commits, emptied after."""
    yield database
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))


def pytest_report_header(config: pytest.Config) -> str:
    from tests.backends import backend_name

    return f"tuneforge test backend: {backend_name()}"
