"""Two workers booking the same finished job at once still leave exactly one ledger row.

The race is forced, not hoped for: the first booking flushes its row and holds its transaction
open until the second one sends the statement that must wait for it (seen by a statement hook
on the second thread); only then does the first commit. On PostgreSQL that is the second's
INSERT, after it read "nothing booked yet": it collides with the first's row and returns that
row. On SQLite every write transaction takes the write lock at ``BEGIN IMMEDIATE``, so the
second waits there and then finds the first's row booked.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select

from service.billing import book_final_cost
from service.db.database import Database
from service.db.models import CostLedgerEntry, Job
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.billing.helpers import make_job

WAIT_S = 30  # a bound for a hung test, never a timing the test relies on


def test_concurrent_bookings_of_one_job_leave_one_entry(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.sessions() as setup:
        job_id = make_job(setup, make_tenant(setup)).id
        setup.commit()

    first_flushed = threading.Event()
    second_inserting = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def spot_second_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        waits = statement.lstrip().upper().startswith(("INSERT INTO COST_LEDGER", "BEGIN"))
        if threading.current_thread().name == "second" and waits:
            second_inserting.set()

    def book(name: str, cost: str) -> None:
        try:
            with committed_db.sessions() as session:
                if name == "second":
                    assert first_flushed.wait(WAIT_S)
                job = session.get(Job, job_id)
                assert job is not None
                entry = book_final_cost(
                    session,
                    job,
                    settings=settings,
                    trained_tokens=None,
                    provider_reported_cost=Decimal(cost),
                )
                if name == "first":
                    first_flushed.set()  # the row exists, uncommitted
                    assert second_inserting.wait(WAIT_S)  # the other one now waits for us
                session.commit()
                results[name] = entry.id
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            first_flushed.set()
            second_inserting.set()

    event.listen(committed_db.engine, "before_cursor_execute", spot_second_insert)
    try:
        threads = [
            threading.Thread(target=book, args=(n, c), name=n)
            for n, c in (("first", "1"), ("second", "2"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT_S * 2)
    finally:
        event.remove(committed_db.engine, "before_cursor_execute", spot_second_insert)

    assert errors == []
    assert second_inserting.is_set()
    assert results["first"] == results["second"]
    with committed_db.sessions() as check:
        count = check.scalar(
            select(func.count())
            .select_from(CostLedgerEntry)
            .where(CostLedgerEntry.job_id == job_id)
        )
        job = check.get(Job, job_id)
        assert count == 1
        assert job is not None and job.cost == Decimal("1.000000")
