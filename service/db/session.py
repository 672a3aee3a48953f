"""Engines and sessions. The request or task boundary owns the transaction (``session_scope``);
code below it only flushes. Callbacks registered with ``after_commit`` run once the commit has
succeeded and are dropped on rollback — that is how work leaves the database for the broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from service.private_paths import private_file

AfterCommit = Callable[[], None]
_AFTER_COMMIT_KEY = "tuneforge.after_commit"

POOL_SIZE = 20
MAX_OVERFLOW = 20
# Connections a request-scoped session never gets: the probes and /metrics' snapshot take one
# of their own, beside the request's.
_RESERVED_CONNECTIONS = 2


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = POOL_SIZE,
    max_overflow: int = MAX_OVERFLOW,
    pool_timeout: float = 30.0,
) -> Engine:
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        _private_database_file(url)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            **(pool if _file_sqlite(url) else {}),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, **pool)


def _private_database_file(url: str) -> None:
    """Create the database file 0600 before SQLite does (it would follow the umask)."""
    database = make_url(url).database
    if _file_sqlite(url) and database and not database.startswith("file:"):
        path = Path(database)
        if path.parent.is_dir():
            private_file(path)


def _file_sqlite(url: str) -> bool:
    # In-memory SQLite uses a one-connection pool that takes no size.
    return url not in ("sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://")


def session_slots(engine: Engine) -> int | None:
    """How many request sessions may be open at once so that none waits for a connection
    (None: the pool has no fixed limit). A request holds its connection between dependencies
    and its route while it waits for a worker thread, so the number of open sessions must be
    capped before the pool is reached, not by the pool's timeout."""
    pool = engine.pool
    max_overflow = int(getattr(pool, "_max_overflow", -1))
    if not isinstance(pool, QueuePool) or max_overflow < 0:
        return None
    return max(1, pool.size() + max_overflow - _RESERVED_CONNECTIONS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let pysqlite stop issuing its own BEGIN so that ours (IMMEDIATE) is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# The execution option that makes a session's SQLite transactions read-only (see READ_ONLY).
SQLITE_BEGIN = "tuneforge_sqlite_begin"
READ_ONLY: dict[str, Any] = {SQLITE_BEGIN: "DEFERRED"}
"""``execution_options`` of a session that only reads: on SQLite its transaction takes no write
lock (WAL readers neither wait for the writer nor block it); elsewhere it changes nothing."""


def _sqlite_begin(connection: Any) -> None:
    # Several processes write to the embedded database; taking the write lock at BEGIN avoids
    # the deadlock-prone upgrade from a read lock that SQLite's deferred transactions do. A
    # session that only reads says so (READ_ONLY) and takes no lock at all.
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'DEFERRED' else 'IMMEDIATE'}")


def single_writer(engine: Engine) -> bool:
    """True for SQLite: one write transaction at a time for the whole database."""
    return engine.dialect.name == "sqlite"


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
    except BaseException:
        end_transaction(session, succeeded=False)
        raise
    end_transaction(session, succeeded=True)


def end_transaction(session: Session, *, succeeded: bool) -> None:
    """The end of ``committing``'s block, for a boundary that cannot be a ``with`` block (an
    async request dependency running it in a worker thread)."""
    try:
        if not succeeded:
            session.rollback()
            discard_after_commit(session)
            return
        try:
            session.commit()
        except BaseException:
            session.rollback()
            discard_after_commit(session)
            raise
        run_after_commit(session)
    finally:
        session.close()


def session_scope(factory: sessionmaker[Session]) -> AbstractContextManager[Session]:
    """The transaction boundary for tasks and commands."""
    return committing(factory())
