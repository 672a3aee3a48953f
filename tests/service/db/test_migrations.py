"""The migrations produce exactly the schema the models describe, and fully reverse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from service.db import migrations
from service.db.models import Base
from service.db.session import make_engine
from service.encryption.keyring import keyring_for
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


def test_existing_secrets_are_encrypted_and_admin_keys_become_operators(
    fresh_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=fresh_url, _env_file=None)
    migrations.upgrade(settings, "0003")
    now = datetime.now(UTC)
    engine = make_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 'a', :now)"),
                {"now": now},
            )
            for key_id, is_admin in (("key_admin", True), ("key_member", False)):
                conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, is_admin,"
                        " created_at) VALUES (:id, 'ten_1', '', 'tf_', :id, :admin, :now)"
                    ),
                    {"id": key_id, "admin": is_admin, "now": now},
                )
            conn.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, tenant_id, url, description, events,"
                    " enabled, secret, previous_secret, created_at, updated_at) VALUES"
                    " ('we_1', 'ten_1', 'https://x.example/', '', '[]', true, 'whsec_new',"
                    " 'whsec_old', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO tenant_webhook_secrets (tenant_id, secret, created_at,"
                    " updated_at) VALUES ('ten_1', 'whsec_tenant', :now, :now)"
                ),
                {"now": now},
            )

        migrations.upgrade(settings)
        keyring = keyring_for(settings)
        with engine.connect() as conn:
            roles = {
                row.id: row.role for row in conn.execute(text("SELECT id, role FROM api_keys"))
            }
            endpoint = conn.execute(
                text("SELECT secret, previous_secret FROM webhook_endpoints")
            ).one()
            tenant_secret = conn.execute(
                text("SELECT secret FROM tenant_webhook_secrets")
            ).scalar_one()
            fallback = conn.execute(
                text("SELECT operator_credentials_fallback FROM tenants")
            ).scalar()
        assert roles == {"key_admin": "operator", "key_member": "member"}
        assert bool(fallback) is True
        assert [keyring.decrypt(value) for value in endpoint] == ["whsec_new", "whsec_old"]
        assert keyring.decrypt(tenant_secret) == "whsec_tenant"
        assert not any(value.startswith("whsec_") for value in (*endpoint, tenant_secret))

        migrations.downgrade(settings, "0003")
        with engine.connect() as conn:
            admins = {
                row.id: row.is_admin
                for row in conn.execute(text("SELECT id, is_admin FROM api_keys"))
            }
            endpoint = conn.execute(
                text("SELECT secret, previous_secret FROM webhook_endpoints")
            ).one()
        assert {key: bool(value) for key, value in admins.items()} == {
            "key_admin": True,
            "key_member": False,
        }
        assert tuple(endpoint) == ("whsec_new", "whsec_old")
    finally:
        engine.dispose()
