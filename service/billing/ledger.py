"""The actual cost of a finished job, booked once into the ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from providers.catalog import resolve_provider
from service.billing.catalog import hourly_rate, lookup_model, service_catalog
from service.billing.estimate import QUANTUM, hours_cost, local_rate
from service.billing.repository import LedgerRepository
from service.datasets.billing import training_cost
from service.db.models import CostLedgerEntry, Job
from service.db.types import utcnow
from service.settings import Settings

TRAINING = "training"

BASIS_REPORTED = "provider_reported"
BASIS_TRAINED_TOKENS = "trained_tokens_x_price"
BASIS_LOCAL_HOURS = "hours_x_hourly_rate"
BASIS_ESTIMATE = "estimate"
BASIS_NOT_BILLED = "not_billed"


def _actual_cost(
    job: Job,
    settings: Settings,
    trained_tokens: int | None,
    provider_reported_cost: Decimal | None,
    duration_s: float | None,
) -> tuple[Decimal, str]:
    if provider_reported_cost is not None:
        return Decimal(provider_reported_cost).quantize(QUANTUM), BASIS_REPORTED
    if job.provider == "local":
        if duration_s is None:
            return Decimal(0), BASIS_NOT_BILLED
        device = "cpu" if (job.hyperparameters or {}).get("device") == "cpu" else "cuda"
        return hours_cost(duration_s, local_rate(settings, device)), BASIS_LOCAL_HOURS
    rate = hourly_rate(settings.local_gpu_hourly_rate)
    # ``job.model`` is what the caller sent ("together/…"); the catalog knows the bare name.
    _, provider_model = resolve_provider(job.model, job.provider)
    info = lookup_model(service_catalog(settings), job.provider, provider_model, rate)
    if trained_tokens is not None and info is not None and info.price is not None:
        return training_cost(trained_tokens, info.price), BASIS_TRAINED_TOKENS
    # The provider told us nothing we can price: a finished job still cost about what we
    # estimated; one that failed or was cancelled without trained tokens cost nothing.
    if job.status == "succeeded" and job.estimated_cost is not None:
        return job.estimated_cost, BASIS_ESTIMATE
    return Decimal(0), BASIS_NOT_BILLED


def book_final_cost(
    session: Session,
    job: Job,
    *,
    settings: Settings,
    trained_tokens: int | None,
    provider_reported_cost: Decimal | None,
    provider_reported_currency: str | None = None,
    duration_s: float | None = None,
    now: datetime | None = None,
) -> CostLedgerEntry:
    """Books the job's actual training cost once and sets ``job.cost``/``cost_basis``/
    ``trained_tokens``. Order of evidence: the provider's own cost field, then trained tokens
    × the catalog price, then (local) ``duration_s`` × the hourly rate, then the estimate for a
    succeeded job, else zero. Idempotent on (job, "training"): a second call, or one racing
    in another transaction, returns the entry already booked and changes nothing. Flushes,
    never commits."""
    repo = LedgerRepository(session)
    existing = repo.entry_for(job.id, TRAINING)
    if existing is not None:
        return existing
    amount, basis = _actual_cost(job, settings, trained_tokens, provider_reported_cost, duration_s)
    currency = (provider_reported_currency or "USD").upper()[:3]
    entry = CostLedgerEntry(
        tenant_id=job.tenant_id,
        job_id=job.id,
        provider=job.provider,
        model=job.model,
        kind=TRAINING,
        amount=amount,
        currency=currency if basis == BASIS_REPORTED else "USD",
        basis=basis,
        billed_tokens=trained_tokens,
        occurred_at=now or utcnow(),
    )
    try:
        repo.add(entry)
    except IntegrityError:
        winner = repo.entry_for(job.id, TRAINING)
        if winner is None:
            raise
        return winner
    job.cost = amount
    job.cost_basis = basis
    if trained_tokens is not None:
        job.trained_tokens = trained_tokens
    return entry
