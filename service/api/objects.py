"""Response models of the service's own routes: health, readiness, tenants."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from service.billing.money import Money


class Health(BaseModel):
    status: Literal["ok"]


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, ReadinessCheck]


class ApiKeyInfo(BaseModel):
    id: str
    role: Literal["member", "admin", "operator"]
    is_admin: bool  # a tenant admin or an operator


class TenantObject(BaseModel):
    object: Literal["tenant"] = "tenant"
    id: str
    name: str
    created_at: int
    operator_credentials_fallback: bool
    monthly_budget: Money | None = None
    api_key: ApiKeyInfo | None = None


class TenantList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TenantObject]
