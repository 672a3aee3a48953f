"""Readiness probes for the two things the service cannot work without."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy import create_engine, text

from service.db.database import Database


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def check_database(database: Database) -> Check:
    try:
        database.ping()
    except Exception as exc:
        return Check("database", False, type(exc).__name__ + ": " + str(exc).splitlines()[0])
    return Check("database", True)


def check_broker(broker_url: str, timeout_s: float = 2.0) -> Check:
    try:
        if broker_url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(
                broker_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
            )
            try:
                client.ping()
            finally:
                client.close()
        elif broker_url.startswith("sqla+"):
            engine = create_engine(broker_url.removeprefix("sqla+"))
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            finally:
                engine.dispose()
        else:
            return Check("broker", False, f"unsupported broker URL scheme: {broker_url[:16]}…")
    except Exception as exc:
        return Check("broker", False, type(exc).__name__ + ": " + str(exc).splitlines()[0])
    return Check("broker", True)
