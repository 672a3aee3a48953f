"""Per-tenant quotas on work in flight: unfinished fine-tuning jobs and eval runs. One tenant
may fill the queues only up to its share; the rest wait for nothing of its."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import RateLimited
from service.settings import Settings
from service.tenants.repository import LockedTenant, TenantRepository


def check_active_jobs(session: Session, settings: Settings, tenant_id: str) -> LockedTenant:
    """Before a job is created: 429 ``active_job_limit_reached`` when the tenant already has
    ``max_active_jobs_per_tenant`` unfinished jobs. The tenant row is locked first (in its own
    statement: a count in the same statement would read a snapshot taken before the lock was
    granted, and two concurrent creates could both take the last slot). Returns the locked
    tenant."""
    repository = TenantRepository(session)
    locked = repository.lock(tenant_id)
    active = repository.unfinished_jobs(tenant_id)
    limit = settings.max_active_jobs_per_tenant
    if active >= limit:
        raise RateLimited(
            f"This tenant already has {active} unfinished fine-tuning jobs (the limit is "
            f"{limit}); create more when some have finished or been cancelled.",
            code="active_job_limit_reached",
        )
    return locked


def check_active_eval_runs(settings: Settings, active_runs: int) -> None:
    """Before an eval run is created: 429 ``active_eval_run_limit_reached`` when the tenant's
    unfinished runs (counted by the evals domain, under the tenant row's lock as above) have
    reached ``max_active_eval_runs_per_tenant``."""
    limit = settings.max_active_eval_runs_per_tenant
    if active_runs >= limit:
        raise RateLimited(
            f"This tenant already has {active_runs} unfinished eval runs (the limit is "
            f"{limit}); create more when some have finished or been canceled.",
            code="active_eval_run_limit_reached",
        )
