"""SQL for tenants' provider credentials."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import ProviderCredential


class CredentialRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, tenant_id: str, provider: str) -> ProviderCredential | None:
        return self.session.get(ProviderCredential, (tenant_id, provider))

    def of_tenant(self, tenant_id: str) -> list[ProviderCredential]:
        return list(
            self.session.scalars(
                select(ProviderCredential)
                .where(ProviderCredential.tenant_id == tenant_id)
                .order_by(ProviderCredential.provider)
            )
        )

    def add(self, credential: ProviderCredential) -> ProviderCredential:
        self.session.add(credential)
        self.session.flush()
        return credential

    def delete(self, credential: ProviderCredential) -> None:
        self.session.delete(credential)
        self.session.flush()

    def all_for_update(self, batch: int = 500) -> Iterator[ProviderCredential]:
        """Every row, locked (``tuneforge secrets rotate``)."""
        query = select(ProviderCredential).order_by(
            ProviderCredential.tenant_id, ProviderCredential.provider
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        yield from self.session.scalars(query.execution_options(yield_per=batch))
