"""``/v1/provider_credentials``: a tenant's own provider keys. A key goes in once and never
comes back out: reads show its last four characters."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import CallerDep, SessionDep, SettingsDep, TenantAdminDep
from service.credentials import service
from service.db.models import ProviderCredential

router = APIRouter(prefix="/v1", tags=["provider credentials"])


_ID = Field(default=None, max_length=service.MAX_ID_CHARS)
_URL = Field(default=None, max_length=2048)


class ServiceAccountKey(BaseModel):
    """A Google service account's JSON key file, as Google writes it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["service_account"]
    project_id: str | None = _ID
    private_key_id: str = Field(min_length=4, max_length=service.MAX_ID_CHARS)
    private_key: str = Field(min_length=1, max_length=8192)
    client_email: str = Field(min_length=3, max_length=service.MAX_ID_CHARS)
    client_id: str | None = _ID
    auth_uri: str | None = _URL
    token_uri: str = Field(min_length=1, max_length=2048)
    auth_provider_x509_cert_url: str | None = _URL
    client_x509_cert_url: str | None = _URL
    universe_domain: str | None = _ID


class CredentialsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, min_length=1, max_length=service.MAX_KEY_CHARS)
    account_id: str | None = _ID
    organization: str | None = _ID
    project: str | None = _ID
    service_account: ServiceAccountKey | None = Field(
        default=None, description="Vertex only: the service account's JSON key (not api_key)"
    )
    bucket: str | None = Field(
        default=None,
        max_length=service.MAX_ID_CHARS,
        description="Vertex only: the Cloud Storage bucket the tenant's datasets go to",
    )


class CredentialsView(BaseModel):
    object: Literal["provider_credentials"] = "provider_credentials"
    provider: str
    api_key_last4: str
    account_id: str | None
    organization: str | None
    project: str | None
    bucket: str | None
    created_at: int
    updated_at: int


class CredentialsList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CredentialsView]


class CredentialsDeleted(BaseModel):
    object: Literal["provider_credentials"] = "provider_credentials"
    provider: str
    deleted: bool


def _view(row: ProviderCredential) -> CredentialsView:
    return CredentialsView(
        provider=row.provider,
        api_key_last4=row.api_key_last4,
        account_id=row.account_id,
        organization=row.organization,
        project=row.project,
        bucket=row.bucket,
        created_at=int(row.created_at.timestamp()),
        updated_at=int(row.updated_at.timestamp()),
    )


@router.get("/provider_credentials", response_model=CredentialsList)
def list_credentials(caller: CallerDep, session: SessionDep) -> CredentialsList:
    rows = service.list_credentials(session, caller.tenant_id)
    return CredentialsList(data=[_view(row) for row in rows])


@router.get("/provider_credentials/{provider}", response_model=CredentialsView)
def get_credentials(provider: str, caller: CallerDep, session: SessionDep) -> CredentialsView:
    return _view(service.get_credentials(session, caller.tenant_id, provider))


@router.put("/provider_credentials/{provider}", response_model=CredentialsView)
def put_credentials(
    provider: str,
    body: CredentialsBody,
    caller: TenantAdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> CredentialsView:
    """Store (or replace) the tenant's own key for ``provider``; its jobs use it from now on.
    Vertex takes a service account instead: ``service_account`` (its JSON key) and ``bucket``.
    Needs a tenant admin (or operator) key."""
    fields = service.CredentialFields(
        api_key=body.api_key,
        account_id=body.account_id,
        organization=body.organization,
        project=body.project,
        bucket=body.bucket,
        service_account=(
            body.service_account.model_dump(exclude_none=True) if body.service_account else None
        ),
    )
    return _view(service.store_credentials(session, settings, caller.tenant_id, provider, fields))


@router.delete("/provider_credentials/{provider}", response_model=CredentialsDeleted)
def delete_credentials(
    provider: str, caller: TenantAdminDep, session: SessionDep
) -> CredentialsDeleted:
    row = service.delete_credentials(session, caller.tenant_id, provider)
    return CredentialsDeleted(provider=row.provider, deleted=True)
