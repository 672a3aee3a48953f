"""One engine + session factory per process, built from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine, text
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
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def database_for(settings: Settings) -> Database:
    return _database_for_url(settings.database_url)


@lru_cache(maxsize=8)
def _database_for_url(url: str) -> Database:
    return Database.from_url(url)


def get_database() -> Database:
    return database_for(get_settings())
