"""Database leases on a row of any kind: whoever holds a live lease is the only one working on
it. A duplicate task delivery sees the live lease and exits; a worker that dies stops renewing
and its lease expires, after which the reconciler hands the row to another worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from service.db.session import session_scope
from service.db.types import utcnow
from service.lifecycle.kind import Kind

log = logging.getLogger(__name__)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_in(session: Session, kind: Kind, row_id: str, owner: str, ttl_s: float) -> bool:
    """Compare-and-set: take the row's lease if it is active and nobody holds a live one."""
    model, now = kind.model, utcnow()
    result = session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.status.in_(kind.active),
            or_(model.lease_expires_at.is_(None), model.lease_expires_at < now),
        )
        .values(lease_owner=owner, lease_expires_at=_expiry(now, ttl_s), heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def claim(
    sessions: sessionmaker[Session], kind: Kind, row_id: str, owner: str, ttl_s: float
) -> bool:
    """Take the lease in its own committed transaction; False if someone holds a live one."""
    with session_scope(sessions) as session:
        return claim_in(session, kind, row_id, owner, ttl_s)


def renew(
    sessions: sessionmaker[Session], kind: Kind, row_id: str, owner: str, ttl_s: float
) -> bool:
    model, now = kind.model, utcnow()
    with session_scope(sessions) as session:
        result = session.execute(
            update(model)
            .where(model.id == row_id, model.lease_owner == owner)
            .values(lease_expires_at=_expiry(now, ttl_s), heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release(row: Any, owner: str) -> None:
    """Drop ``owner``'s lease on a row loaded (and locked) in the caller's transaction, so the
    release commits with the work it protected."""
    if row is not None and row.lease_owner == owner:
        row.lease_owner = None
        row.lease_expires_at = None


def holds_live_lease(row: Any, owner: str, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(
        row.lease_owner == owner and row.lease_expires_at is not None and row.lease_expires_at > now
    )


@contextmanager
def heartbeat(
    sessions: sessionmaker[Session], kind: Kind, row_id: str, owner: str, ttl_s: float
) -> Iterator[threading.Event]:
    """Renew the lease every ``ttl_s / 3`` while the block runs. The yielded event is set when
    a renewal found the lease gone, so the holder can stop before a side effect."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                if not renew(sessions, kind, row_id, owner, ttl_s):
                    lost.set()
                    return
            except Exception:
                log.warning("lease renewal for %s failed; will retry", row_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease-{row_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)


def _expiry(now: datetime, ttl_s: float) -> datetime:
    return now + timedelta(seconds=ttl_s)
