"""Tenants' data at rest is readable by the service's user only, whatever the umask: dataset
files 0600 in 0700 folders, the SQLite database 0600, the data dir's folders 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.db import migrations
from service.db.session import make_engine
from service.files.naming import storage_path
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.providers.emulated_jobs import DATASET

LINE = (
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what a plain shell gives: world-readable unless we say not
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_uploaded_dataset_is_private(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    db_session.commit()
    response = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("train.jsonl", DATASET, "application/jsonl")},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    stored = storage_path(settings.files_dir, tenant.id, response.json()["id"])
    assert _mode(stored) == 0o600
    assert _mode(stored.parent) == 0o700


def test_the_sqlite_database_and_data_folders_are_private(tmp_path: Path) -> None:
    database = tmp_path / "tuneforge.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        engine.dispose()
    assert _mode(database) == 0o600

    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    migrations.prepare_storage(settings)
    for folder in (settings.data_dir, settings.files_dir, settings.artifacts_dir):
        assert _mode(folder) == 0o700, folder
