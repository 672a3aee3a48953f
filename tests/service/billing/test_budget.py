"""Monthly budgets: this month's ledger plus active jobs' estimates, refused over the limit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.billing import BudgetExceeded, ensure_within_budget
from service.billing.budget import month_bounds
from service.errors import InvalidRequest
from service.tenants.service import set_monthly_budget
from tests.factories import auth, make_key, make_tenant
from tests.service.billing.helpers import ledger_entry, make_job

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_month_bounds_roll_over_the_year() -> None:
    assert month_bounds(datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("amount", ["1e400", "NaN", "Infinity", "-1", "1000000"])
def test_a_budget_out_of_bounds_is_refused_naming_it(db_session: Session, amount: str) -> None:
    """The API bounds it (12 digits, 6 decimals); ``tuneforge tenants budget acme 1e400`` went
    past that to the database: OverflowError on SQLite, a traceback."""
    tenant = make_tenant(db_session)
    with pytest.raises(InvalidRequest) as refused:
        set_monthly_budget(db_session, tenant, Decimal(amount))
    assert refused.value.param == "monthly_limit"
    assert set_monthly_budget(db_session, tenant, Decimal("999999.999999")).monthly_limit == (
        Decimal("999999.999999")
    )
    assert set_monthly_budget(db_session, tenant, Decimal("12.3456789")).monthly_limit == (
        Decimal("12.345679")
    )


def test_estimate_over_what_is_left_is_refused(db_session: Session) -> None:
    tenant = make_tenant(db_session)
    set_monthly_budget(db_session, tenant, Decimal("10"))
    ledger_entry(db_session, tenant, "4", datetime(2026, 3, 2, tzinfo=UTC))
    ledger_entry(db_session, tenant, "100", datetime(2026, 2, 28, 23, 59, tzinfo=UTC))  # last month
    make_job(db_session, tenant, status="running", estimated_cost=Decimal("3"))
    make_job(db_session, tenant, status="succeeded", estimated_cost=Decimal("50"))  # booked

    ensure_within_budget(db_session, tenant.id, Decimal("3"), NOW)  # 4 + 3 + 3 = 10: fits
    with pytest.raises(BudgetExceeded) as caught:
        ensure_within_budget(db_session, tenant.id, Decimal("3.000001"), NOW)
    error = caught.value
    assert (error.status_code, error.code) == (400, "budget_exceeded")
    assert error.extra["budget"]["remaining"] == "3.000000"
    assert "3.000001" in error.message


def test_own_job_is_not_counted_twice(db_session: Session) -> None:
    tenant = make_tenant(db_session)
    set_monthly_budget(db_session, tenant, Decimal("5"))
    job = make_job(db_session, tenant, status="queued", estimated_cost=Decimal("5"))
    with pytest.raises(BudgetExceeded):
        ensure_within_budget(db_session, tenant.id, Decimal("5"), NOW)
    ensure_within_budget(db_session, tenant.id, Decimal("5"), NOW, exclude_job_id=job.id)


def test_no_budget_is_unlimited_and_unknown_estimates_pass_while_money_is_left(
    db_session: Session,
) -> None:
    tenant = make_tenant(db_session)
    ensure_within_budget(db_session, tenant.id, Decimal("1000000"), NOW)
    set_monthly_budget(db_session, tenant, Decimal("1"))
    ensure_within_budget(db_session, tenant.id, None, NOW)
    ledger_entry(db_session, tenant, "1", NOW)
    with pytest.raises(BudgetExceeded):
        ensure_within_budget(db_session, tenant.id, None, NOW)


def test_budget_route_shows_what_is_left(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    assert client.get("/v1/budget", headers=auth(key)).json()["monthly_limit"] is None
    set_monthly_budget(db_session, tenant, Decimal("20"))
    ledger_entry(db_session, tenant, "2.5", datetime.now(UTC))
    body = client.get("/v1/budget", headers=auth(key)).json()
    assert (body["monthly_limit"], body["booked"], body["remaining"]) == (
        "20.000000",
        "2.500000",
        "17.500000",
    )
