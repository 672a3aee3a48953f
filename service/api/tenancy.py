"""Who am I, and the admin's view of tenants and their budgets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import CallerDep, OperatorDep, SessionDep
from service.api.objects import TenantList, TenantObject
from service.db.models import Tenant
from service.errors import NotFound
from service.tenants.repository import TenantRepository
from service.tenants.service import set_monthly_budget, set_operator_fallback

router = APIRouter(prefix="/v1", tags=["tenants"])


def _tenant_body(repo: TenantRepository, tenant: Tenant) -> dict[str, Any]:
    budget = repo.budget_of(tenant.id)
    return {
        "object": "tenant",
        "id": tenant.id,
        "name": tenant.name,
        "created_at": int(tenant.created_at.timestamp()),
        "operator_credentials_fallback": tenant.operator_credentials_fallback,
        "monthly_budget": (
            {"amount": str(budget.monthly_limit), "currency": budget.currency} if budget else None
        ),
    }


@router.get("/tenant", response_model=TenantObject, response_model_exclude_unset=True)
def current_tenant(caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    repo = TenantRepository(session)
    tenant = repo.by_id(caller.tenant_id)
    if tenant is None:  # the key's tenant was deleted between lookups
        raise NotFound("tenant not found")
    body = _tenant_body(repo, tenant)
    body["api_key"] = {
        "id": caller.key_id,
        "role": caller.role.value,
        "is_admin": caller.role.is_tenant_admin,
    }
    return body


@router.get("/admin/tenants", response_model=TenantList, response_model_exclude_unset=True)
def list_tenants(_: OperatorDep, session: SessionDep) -> dict[str, Any]:
    repo = TenantRepository(session)
    return {"object": "list", "data": [_tenant_body(repo, t) for t in repo.all()]}


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_limit: Decimal = Field(ge=0, max_digits=12, decimal_places=6)


@router.put(
    "/admin/tenants/{tenant_id}/budget",
    response_model=TenantObject,
    response_model_exclude_unset=True,
)
def put_budget(
    tenant_id: str, body: BudgetBody, _: OperatorDep, session: SessionDep
) -> dict[str, Any]:
    repo = TenantRepository(session)
    tenant = repo.by_id(tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant with id '{tenant_id}'.", param="tenant_id")
    set_monthly_budget(session, tenant, body.monthly_limit)
    return _tenant_body(repo, tenant)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator_credentials_fallback: bool | None = None


@router.patch(
    "/admin/tenants/{tenant_id}", response_model=TenantObject, response_model_exclude_unset=True
)
def update_tenant(
    tenant_id: str, body: TenantUpdate, _: OperatorDep, session: SessionDep
) -> dict[str, Any]:
    """``operator_credentials_fallback: false``: the tenant's jobs run only on providers it
    stored its own key for (PUT /v1/provider_credentials/{provider})."""
    repo = TenantRepository(session)
    tenant = repo.by_id(tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant with id '{tenant_id}'.", param="tenant_id")
    if body.operator_credentials_fallback is not None:
        set_operator_fallback(session, tenant, body.operator_credentials_fallback)
    return _tenant_body(repo, tenant)
