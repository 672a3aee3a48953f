"""Tenants and API keys: creation, lookup by presented key, revocation, budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from service.auth.keys import generate_key, hash_key
from service.auth.roles import KeyRole
from service.db.models import ApiKey, Tenant, TenantBudget
from service.db.types import utcnow
from service.errors import Conflict, InvalidRequest, NotFound
from service.tenants.repository import TenantRepository

# Writing last_used_at on every request would turn every read into a write; once a minute is
# plenty for "when was this key last used".
_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    plaintext: str


def create_tenant(session: Session, name: str) -> Tenant:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("tenant name must be 1-200 characters", param="name")
    repo = TenantRepository(session)
    if repo.by_name(name) is not None:
        raise Conflict(f"tenant {name!r} already exists", param="name", code="tenant_exists")
    return repo.add(Tenant(name=name))


def get_tenant_by_name(session: Session, name: str) -> Tenant:
    tenant = TenantRepository(session).by_name(name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}", param="tenant")
    return tenant


def create_api_key(
    session: Session, tenant: Tenant, *, role: KeyRole = KeyRole.MEMBER, name: str = ""
) -> CreatedKey:
    new = generate_key()
    key = ApiKey(
        tenant_id=tenant.id, name=name, prefix=new.prefix, key_hash=new.digest, role=role.value
    )
    TenantRepository(session).add_key(key)
    return CreatedKey(key=key, plaintext=new.plaintext)


def authenticate(session: Session, presented: str) -> ApiKey | None:
    key = find_active_key(session, presented)
    if key is not None and key_use_is_stale(key):
        record_key_use(session, key.id)
    return key


def find_active_key(session: Session, presented: str) -> ApiKey | None:
    return TenantRepository(session).active_key_by_digest(hash_key(presented))


def key_use_is_stale(key: ApiKey) -> bool:
    return key.last_used_at is None or utcnow() - key.last_used_at > _TOUCH_INTERVAL


def record_key_use(session: Session, key_id: str) -> None:
    """The API's request path looks a key up in a read-only transaction and records its use in
    a short write of its own, at most once a minute."""
    now = utcnow()
    TenantRepository(session).touch_key(key_id, now, unless_since=now - _TOUCH_INTERVAL)


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    key = TenantRepository(session).key_by_id(key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}", param="key_id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def end_dashboard_sessions(session: Session, key_id: str) -> None:
    """Every dashboard session of this key ends: cookies issued before are refused."""
    TenantRepository(session).next_session_generation(key_id)


MAX_MONTHLY_BUDGET = Decimal("999999.999999")  # the API's bound: 12 digits, 6 of them decimals


def set_monthly_budget(session: Session, tenant: Tenant, limit: Decimal) -> TenantBudget:
    """Every caller (the API, ``tuneforge tenants budget``) gets the same bounds."""
    if not limit.is_finite() or limit < 0:
        raise InvalidRequest("a budget is a finite, non-negative amount", param="monthly_limit")
    if limit > MAX_MONTHLY_BUDGET:
        raise InvalidRequest(
            f"a monthly budget is at most {MAX_MONTHLY_BUDGET} USD", param="monthly_limit"
        )
    limit = limit.quantize(Decimal("0.000001"))
    repo = TenantRepository(session)
    budget = repo.budget_of(tenant.id)
    if budget is None:
        budget = TenantBudget(tenant_id=tenant.id, monthly_limit=limit)
        session.add(budget)
    else:
        budget.monthly_limit = limit
    session.flush()
    return budget


def set_operator_fallback(session: Session, tenant: Tenant, allowed: bool) -> Tenant:
    tenant.operator_credentials_fallback = allowed
    session.flush()
    return tenant
