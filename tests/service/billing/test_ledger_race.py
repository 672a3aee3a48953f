"""Two workers booking the same finished job at once still leave exactly one ledger row."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from sqlalchemy import func, select

from service.billing import book_final_cost
from service.db.database import Database
from service.db.models import CostLedgerEntry, Job
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.billing.helpers import make_job


def test_concurrent_bookings_of_one_job_leave_one_entry(
    committed_db: Database, settings: Settings
) -> None:
    with committed_db.sessions() as setup:
        job_id = make_job(setup, make_tenant(setup)).id
        setup.commit()

    results: dict[str, int] = {}

    def book(name: str, cost: str, hold_s: float) -> None:
        with committed_db.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None
            entry = book_final_cost(
                session,
                job,
                settings=settings,
                trained_tokens=None,
                provider_reported_cost=Decimal(cost),
            )
            time.sleep(hold_s)  # hold the uncommitted row while the other one tries
            session.commit()
            results[name] = entry.id

    first = threading.Thread(target=book, args=("first", "1", 0.5))
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=book, args=("second", "2", 0.0))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

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
