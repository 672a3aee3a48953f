"""The migrations produce exactly the schema the models describe, and fully reverse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from service.db import migrations
from service.db.models import Base
from service.db.session import make_engine
from service.settings import Settings
from tests.backends import backend_name, postgres_database


@pytest.fixture()
def fresh_url(tmp_path: Path) -> Iterator[str]:
    if backend_name() == "postgres":
        with postgres_database("tf_migr") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_equals_models_and_downgrades_to_base(
    fresh_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=fresh_url)
    migrations.upgrade(settings)
    assert _diff(fresh_url) == []
    assert set(Base.metadata.tables) <= _tables(fresh_url)

    migrations.downgrade(settings, "base")
    assert _tables(fresh_url) <= {"alembic_version"}

    migrations.upgrade(settings)
    assert _diff(fresh_url) == []
