"""Provider adapters built per (provider, credentials): the service's half of
``providers.registry``. Whose credentials a step uses is decided by ``credentials_for`` (the
tenant's own key, else the operator's when the tenant may fall back on it); nothing else
builds an adapter for tenant work."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from providers.base import ProviderAdapter, ProviderConfig
from providers.registry import get_adapter
from service.credentials.service import (
    CredentialsMissing,
    ProviderCredentials,
    credentials_for,
    operator_credentials,
)
from service.db.models import Job
from service.settings import Settings

AdapterFactory = Callable[[Settings, ProviderCredentials], ProviderAdapter]


def provider_config(settings: Settings, credentials: ProviderCredentials) -> ProviderConfig:
    base_url: str | None = getattr(settings, f"{credentials.provider}_base_url", None)
    vertex = credentials.provider == "vertex"  # a service account, no key
    # The tenant's own account (its key and bucket) or the operator's (key file, bucket).
    own = json.loads(credentials.service_account_json) if credentials.service_account_json else None
    key_file = None if own else settings.vertex_credentials_file
    return ProviderConfig(
        api_key=credentials.api_key,
        base_url=base_url,
        account_id=credentials.account_id,
        organization=credentials.organization,
        project=credentials.project,
        timeout=30.0,
        max_retries=0,  # our tasks retry on their own schedule, after reconciling by tag
        location=settings.vertex_location if vertex else None,
        credentials_file=str(key_file) if vertex and key_file is not None else None,
        credentials_info=own if vertex else None,
        bucket=(credentials.bucket if own else settings.vertex_bucket) if vertex else None,
        storage_base_url=settings.vertex_storage_base_url if vertex else None,
    )


def adapter_for(settings: Settings, credentials: ProviderCredentials) -> ProviderAdapter:
    return get_adapter(credentials.provider, provider_config(settings, credentials))


def operator_adapter(settings: Settings, provider: str) -> ProviderAdapter:
    """An adapter on the operator's own account (work of no tenant's)."""
    return adapter_for(settings, operator_credentials(settings, provider))


def tenant_credentials(
    session: Session, settings: Settings, tenant_id: str, provider: str
) -> ProviderCredentials | CredentialsMissing:
    """Read inside a step's own transaction; a missing key is returned, to be raised where the
    step handles provider errors (``build_adapter``)."""
    try:
        return credentials_for(session, settings, tenant_id, provider)
    except CredentialsMissing as missing:
        return missing


@dataclass(frozen=True)
class ProviderCallPlan:
    """One call about a launched job to its provider (cancel, pause, resume)."""

    provider: str
    provider_job_id: str
    credentials: ProviderCredentials | CredentialsMissing


def provider_call_plan(session: Session, settings: Settings, job: Job) -> ProviderCallPlan | None:
    """The plan for a call about ``job`` (None: it has no provider job yet)."""
    if job.provider_job_id is None:
        return None
    credentials = tenant_credentials(session, settings, job.tenant_id, job.provider)
    return ProviderCallPlan(job.provider, job.provider_job_id, credentials)


def build_adapter(
    factory: AdapterFactory,
    settings: Settings,
    credentials: ProviderCredentials | CredentialsMissing,
) -> ProviderAdapter:
    """The adapter for the chosen credentials; raises ``CredentialsMissing`` (a
    ``ProviderPermanentError``) when the tenant may use none."""
    if isinstance(credentials, CredentialsMissing):
        raise credentials
    return factory(settings, credentials)
