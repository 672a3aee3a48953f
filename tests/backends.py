"""Which backend the suite runs against: ``TUNEFORGE_TEST_BACKEND=postgres`` (PostgreSQL + Redis)
or ``embedded`` (SQLite + the SQLite broker, the default). Every run gets its own database and
broker namespace, so concurrent runs on one machine never see each other's rows or messages."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

PG_ADMIN_DSN = os.environ.get("TUNEFORGE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TUNEFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    broker_url: str
    broker_key_prefix: str


def backend_name() -> str:
    name = os.environ.get("TUNEFORGE_TEST_BACKEND", "embedded")
    if name not in ("postgres", "embedded"):
        raise RuntimeError(f"TUNEFORGE_TEST_BACKEND must be postgres or embedded, not {name!r}")
    return name


def _pg_url(dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_DSN)
    user = info.get("user", "postgres")
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    return f"postgresql+psycopg://{user}@{host}:{port}/{dbname}"


@contextmanager
def postgres_database(prefix: str = "tf_test") -> Iterator[str]:
    """A fresh PostgreSQL database for the duration of the block; its SQLAlchemy URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}. Start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)."
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(
            f"Redis is not reachable at {REDIS_URL}: {exc}. Start it (see README, Testing)."
        ) from exc
    finally:
        client.close()


@contextmanager
def provision(tmp_dir: Path) -> Iterator[Backend]:
    name = backend_name()
    if name == "embedded":
        yield Backend(
            name=name,
            database_url=f"sqlite:///{tmp_dir / 'tuneforge.sqlite'}",
            broker_url=f"sqla+sqlite:///{tmp_dir / 'broker.sqlite'}",
            broker_key_prefix="",
        )
        return
    require_redis()
    with postgres_database() as url:
        yield Backend(
            name=name,
            database_url=url,
            broker_url=REDIS_URL,
            broker_key_prefix=f"tf_test_{secrets.token_hex(4)}:",
        )
