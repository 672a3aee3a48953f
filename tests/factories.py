"""Plain factory functions for test data."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.db.models import Tenant
from service.tenants.service import create_api_key, create_tenant


def make_tenant(session: Session, name: str | None = None) -> Tenant:
    return create_tenant(session, name or f"tenant-{secrets.token_hex(4)}")


def make_key(session: Session, tenant: Tenant, *, role: KeyRole = KeyRole.MEMBER) -> str:
    return create_api_key(session, tenant, role=role).plaintext


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
