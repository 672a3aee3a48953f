"""One engine + session factory per process, built from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db.session import make_engine, make_session_factory
from service.settings import Settings, get_settings


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_url(cls, url: str) -> Database:
        engine = make_engine(url)
        return cls(engine=engine, sessions=make_session_factory(engine))

    def ping(self) -> None:
        # A raw DBAPI round trip: no BEGIN, so a long writer on SQLite cannot block the probe.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        finally:
            raw.close()


def database_for(settings: Settings) -> Database:
    return _database_for_url(settings.database_url)


@lru_cache(maxsize=8)
def _database_for_url(url: str) -> Database:
    return Database.from_url(url)


def get_database() -> Database:
    return database_for(get_settings())
