"""Provider adapters built from Settings (the service's half of ``providers.registry``)."""

from __future__ import annotations

from pydantic import SecretStr

from providers.base import ProviderAdapter, ProviderConfig
from providers.registry import get_adapter
from service.settings import Settings


def provider_config(settings: Settings, provider: str) -> ProviderConfig:
    key: SecretStr | None = getattr(settings, f"{provider}_api_key", None)
    base_url: str | None = getattr(settings, f"{provider}_base_url", None)
    vertex = provider == "vertex"
    credentials = settings.vertex_credentials_file
    return ProviderConfig(
        api_key=key.get_secret_value() if key is not None else "",
        base_url=base_url,
        account_id=settings.fireworks_account_id if provider == "fireworks" else None,
        timeout=30.0,
        max_retries=0,  # our tasks retry on their own schedule, after reconciling by tag
        project=settings.vertex_project if vertex else None,
        location=settings.vertex_location if vertex else None,
        credentials_file=str(credentials) if vertex and credentials is not None else None,
        bucket=settings.vertex_bucket if vertex else None,
        storage_base_url=settings.vertex_storage_base_url if vertex else None,
    )


def adapter_for(settings: Settings, provider: str) -> ProviderAdapter:
    return get_adapter(provider, provider_config(settings, provider))
