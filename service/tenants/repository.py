"""SQL for tenants, their API keys and budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from providers.base import TERMINAL_STATUSES
from service.db.models import ApiKey, Job, Tenant, TenantBudget


@dataclass(frozen=True)
class LockedTenant:
    tenant: Tenant | None
    """None: no such tenant."""
    has_budget: bool
    """A budget row existed when the lock was taken."""


class TenantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_name(self, name: str) -> Tenant | None:
        return self.session.scalars(select(Tenant).where(Tenant.name == name)).first()

    def by_id(self, tenant_id: str) -> Tenant | None:
        return self.session.get(Tenant, tenant_id)

    def all(self) -> list[Tenant]:
        return list(self.session.scalars(select(Tenant).order_by(Tenant.name)))

    def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        self.session.flush()
        return tenant

    def active_key_by_digest(self, digest: str) -> ApiKey | None:
        return self.session.scalars(
            select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
        ).first()

    def add_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key

    def keys_of(self, tenant_id: str) -> list[ApiKey]:
        return list(
            self.session.scalars(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
            )
        )

    def key_by_id(self, key_id: str) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def next_session_generation(self, key_id: str) -> None:
        self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(session_generation=ApiKey.session_generation + 1)
            .execution_options(synchronize_session=False)
        )

    def lock(self, tenant_id: str) -> LockedTenant:
        """Hold the tenant row until commit (PostgreSQL; SQLite writers are serialised). The
        row is loaded whole (a later ``session.get(Tenant, …)`` in the transaction, such as the
        credentials fallback at create, then costs no round trip), and whether the tenant has
        a budget row is read in the same statement: a create skips the budget check, and its
        lock, when there is none."""
        has_budget = exists().where(TenantBudget.tenant_id == Tenant.id)
        query = select(Tenant, has_budget).where(Tenant.id == tenant_id)
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Tenant)
        row = self.session.execute(query).first()
        if row is None:
            return LockedTenant(None, has_budget=False)
        return LockedTenant(row[0], has_budget=bool(row[1]))

    def unfinished_jobs(self, tenant_id: str) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.tenant_id == tenant_id,
                    Job.status.notin_([str(s) for s in TERMINAL_STATUSES]),
                )
            )
            or 0
        )

    def budget_of(self, tenant_id: str) -> TenantBudget | None:
        return self.session.get(TenantBudget, tenant_id)

    def touch_key(self, key_id: str, when: datetime, *, unless_since: datetime) -> None:
        """Set ``last_used_at`` unless it is newer than ``unless_since`` or another transaction
        holds the row (it is recording a use right now): a read never waits on this write."""
        stale = select(ApiKey.id).where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_since),
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stale = stale.with_for_update(skip_locked=True)
        self.session.execute(
            update(ApiKey)
            .where(ApiKey.id.in_(stale))
            .values(last_used_at=when)
            .execution_options(synchronize_session=False)
        )
