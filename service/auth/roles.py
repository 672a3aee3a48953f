"""What an API key may do. Every key belongs to one tenant:

- ``member``: the tenant's own API (files, jobs, webhooks, usage).
- ``admin`` (tenant admin): also manages the tenant's provider credentials.
- ``operator``: runs the service for everyone: every tenant, budgets, credential fallback, the
  dashboard, usage across tenants.
"""

from __future__ import annotations

from enum import StrEnum


class KeyRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    OPERATOR = "operator"

    @property
    def is_tenant_admin(self) -> bool:
        """Operators administer their own tenant too."""
        return self in (KeyRole.ADMIN, KeyRole.OPERATOR)

    @property
    def is_operator(self) -> bool:
        return self is KeyRole.OPERATOR
