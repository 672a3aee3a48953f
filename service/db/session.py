"""Engines and sessions. The request or task boundary owns the transaction (``session_scope``);
code below it only flushes. Callbacks registered with ``after_commit`` run once the commit has
succeeded and are dropped on rollback — that is how work leaves the database for the broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

AfterCommit = Callable[[], None]
_AFTER_COMMIT_KEY = "tuneforge.after_commit"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let pysqlite stop issuing its own BEGIN so that ours (IMMEDIATE) is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Several processes write to the embedded database; taking the write lock at BEGIN avoids
    # the deadlock-prone upgrade from a read lock that SQLite's deferred transactions do.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def after_commit(session: Session, callback: AfterCommit) -> None:
    """Run ``callback`` after the surrounding transaction commits; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def run_after_commit(session: Session) -> None:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        callback()


def discard_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Own ``session``'s transaction: commit and run the after-commit callbacks on success,
    roll back and drop them on any error, close it either way."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        discard_after_commit(session)
        raise
    else:
        run_after_commit(session)
    finally:
        session.close()


def session_scope(factory: sessionmaker[Session]) -> AbstractContextManager[Session]:
    """The transaction boundary for tasks and commands."""
    return committing(factory())
