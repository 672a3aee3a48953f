"""Booking the actual cost: the provider's evidence in order, exactly once per job."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.billing import book_final_cost
from service.db.models import CostLedgerEntry
from service.settings import Settings
from tests.factories import make_tenant
from tests.service.billing.helpers import make_job


def _entries(session: Session, job_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CostLedgerEntry)
            .where(CostLedgerEntry.job_id == job_id)
        )
        or 0
    )


def test_trained_tokens_times_catalog_price(db_session: Session, settings: Settings) -> None:
    job = make_job(db_session, make_tenant(db_session), model="gpt-4o-2024-08-06")
    entry = book_final_cost(
        db_session, job, settings=settings, trained_tokens=120_000, provider_reported_cost=None
    )
    assert entry.amount == Decimal("3.000000")  # 120k tokens at $25 / 1M
    assert (job.cost, job.cost_basis, job.trained_tokens) == (
        Decimal("3.000000"),
        "trained_tokens_x_price",
        120_000,
    )
    assert (entry.provider, entry.model, entry.billed_tokens) == ("openai", job.model, 120_000)


def test_provider_reported_cost_wins(db_session: Session, settings: Settings) -> None:
    job = make_job(
        db_session,
        make_tenant(db_session),
        provider="together",
        model="Qwen/Qwen2.5-7B-Instruct",
    )
    entry = book_final_cost(
        db_session,
        job,
        settings=settings,
        trained_tokens=1_000_000,
        provider_reported_cost=Decimal("0.37"),
        provider_reported_currency="usd",
    )
    assert (entry.amount, entry.basis, entry.currency) == (
        Decimal("0.370000"),
        "provider_reported",
        "USD",
    )


def test_booking_twice_changes_nothing(db_session: Session, settings: Settings) -> None:
    job = make_job(db_session, make_tenant(db_session))
    first = book_final_cost(
        db_session, job, settings=settings, trained_tokens=1_000_000, provider_reported_cost=None
    )
    again = book_final_cost(
        db_session, job, settings=settings, trained_tokens=5, provider_reported_cost=Decimal(9)
    )
    assert again.id == first.id
    assert job.cost == Decimal("3.000000")
    assert _entries(db_session, job.id) == 1
    db_session.commit()  # the savepoint of the rolled-back test transaction
    assert _entries(db_session, job.id) == 1


def test_local_jobs_book_hours_at_the_rate(db_session: Session, settings: Settings) -> None:
    job = make_job(db_session, make_tenant(db_session), provider="local", model="tiny")
    entry = book_final_cost(
        db_session,
        job,
        settings=settings,
        trained_tokens=None,
        provider_reported_cost=None,
        duration_s=1800,
    )
    expected = Decimal(str(settings.local_gpu_hourly_rate)) / 2
    assert (entry.amount, entry.basis) == (
        expected.quantize(Decimal("0.000001")),
        "hours_x_hourly_rate",
    )


def test_without_evidence_success_books_estimate_and_failure_books_zero(
    db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    done = make_job(
        db_session,
        tenant,
        provider="mistral",
        model="open-mistral-7b",
        estimated_cost=Decimal("1.25"),
    )
    failed = make_job(db_session, tenant, status="failed", estimated_cost=Decimal("4"))
    kept = book_final_cost(
        db_session, done, settings=settings, trained_tokens=None, provider_reported_cost=None
    )
    zero = book_final_cost(
        db_session, failed, settings=settings, trained_tokens=None, provider_reported_cost=None
    )
    assert (kept.amount, kept.basis) == (Decimal("1.250000"), "estimate")
    assert (zero.amount, zero.basis) == (Decimal(0), "not_billed")


def test_a_prefixed_model_is_priced_by_its_provider_side_name(
    db_session: Session, settings: Settings
) -> None:
    # The job keeps the caller's "together/…" string; the catalog knows the bare name.
    job = make_job(
        db_session,
        make_tenant(db_session),
        provider="together",
        model="together/Qwen/Qwen2.5-7B-Instruct",
        estimated_cost=Decimal("9.99"),
    )
    entry = book_final_cost(
        db_session, job, settings=settings, trained_tokens=1_000_000, provider_reported_cost=None
    )
    assert (entry.amount, entry.basis) == (Decimal("0.480000"), "trained_tokens_x_price")
    assert entry.model == "together/Qwen/Qwen2.5-7B-Instruct"
