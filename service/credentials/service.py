"""A tenant's own provider credentials: stored encrypted, shown only by their last four
characters, and chosen over the operator's by ``credentials_for`` (the one place that decides
whose key a provider call uses: jobs today, eval runs and studies alike)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from pydantic import SecretStr
from sqlalchemy.orm import Session

from providers.errors import ProviderPermanentError
from service.api.key_cache import KeyCache
from service.credentials.repository import CredentialRepository
from service.db.models import ProviderCredential, Tenant
from service.encryption.keyring import keyring_for
from service.errors import InvalidRequest, NotFound
from service.settings import Settings

MAX_KEY_CHARS = 1024
MAX_ID_CHARS = 255
# The providers a tenant may bring a key for, and the ids each one's SDK takes beside the key
# (any other is refused, naming it).
EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "openai": ("organization", "project"),
    "together": (),
    "mistral": (),
    "fireworks": ("account_id",),
}


class CredentialSource(StrEnum):
    TENANT = "tenant"
    OPERATOR = "operator"


@dataclass(frozen=True)
class ProviderCredentials:
    """What one provider call authenticates with, and whose it is."""

    provider: str
    source: CredentialSource
    api_key: str = field(repr=False)
    account_id: str | None = None
    organization: str | None = None
    project: str | None = None


class CredentialsMissing(ProviderPermanentError):
    """The tenant has no key for the provider and may not use the operator's."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            provider,
            f"This tenant has no {provider} credentials of its own and may not use the "
            f"operator's; store a key with PUT /v1/provider_credentials/{provider}.",
            code="provider_credentials_required",
            param="provider",
        )


@dataclass(frozen=True)
class CredentialFields:
    api_key: str
    account_id: str | None = None
    organization: str | None = None
    project: str | None = None


def checked_provider(provider: str) -> str:
    if provider not in EXTRA_FIELDS:
        raise InvalidRequest(
            f"Unknown provider {provider!r}; credentials can be stored for "
            f"{', '.join(EXTRA_FIELDS)}.",
            param="provider",
            code="invalid_value",
        )
    return provider


def store_credentials(
    session: Session, settings: Settings, tenant_id: str, provider: str, fields: CredentialFields
) -> ProviderCredential:
    """Create or replace the tenant's credentials for ``provider``."""
    provider = checked_provider(provider)
    _check_fields(provider, fields)
    repository = CredentialRepository(session)
    row = repository.get(tenant_id, provider)
    ciphertext = keyring_for(settings).encrypt(fields.api_key)
    if row is None:
        row = ProviderCredential(tenant_id=tenant_id, provider=provider)
        session.add(row)
    row.api_key_encrypted = ciphertext
    row.api_key_last4 = fields.api_key[-4:]
    row.account_id = fields.account_id
    row.organization = fields.organization
    row.project = fields.project
    session.flush()
    return row


def get_credentials(session: Session, tenant_id: str, provider: str) -> ProviderCredential:
    row = CredentialRepository(session).get(tenant_id, checked_provider(provider))
    if row is None:
        raise NotFound(f"No {provider} credentials are stored for this tenant.", param="provider")
    return row


def list_credentials(session: Session, tenant_id: str) -> list[ProviderCredential]:
    return CredentialRepository(session).of_tenant(tenant_id)


def delete_credentials(session: Session, tenant_id: str, provider: str) -> ProviderCredential:
    row = get_credentials(session, tenant_id, provider)
    CredentialRepository(session).delete(row)
    return row


def credentials_for(
    session: Session, settings: Settings, tenant_id: str, provider: str
) -> ProviderCredentials:
    """The tenant's own credentials when it stored some, else the operator's if the tenant may
    fall back on them; raises ``CredentialsMissing`` otherwise."""
    row = CredentialRepository(session).get(tenant_id, provider)
    if row is not None:
        return ProviderCredentials(
            provider=provider,
            source=CredentialSource.TENANT,
            api_key=_plaintext(settings, row.api_key_encrypted),
            account_id=row.account_id,
            organization=row.organization,
            project=row.project,
        )
    tenant = session.get(Tenant, tenant_id)
    if tenant is not None and not tenant.operator_credentials_fallback:
        raise CredentialsMissing(provider)
    return operator_credentials(settings, provider)


def require_credentials(
    session: Session, settings: Settings, tenant_id: str, provider: str
) -> None:
    """At job creation: refuse now, not at launch, a provider the tenant cannot use."""
    try:
        credentials_for(session, settings, tenant_id, provider)
    except CredentialsMissing as exc:
        raise InvalidRequest(exc.message, param="provider", code=exc.code) from exc


def operator_credentials(settings: Settings, provider: str) -> ProviderCredentials:
    key: SecretStr | None = getattr(settings, f"{provider}_api_key", None)
    return ProviderCredentials(
        provider=provider,
        source=CredentialSource.OPERATOR,
        api_key=key.get_secret_value() if key is not None else "",
        account_id=settings.fireworks_account_id if provider == "fireworks" else None,
        project=settings.vertex_project if provider == "vertex" else None,
    )


@lru_cache(maxsize=4)
def _cache(ttl_s: float) -> KeyCache[str]:
    return KeyCache[str](ttl_s=ttl_s, max_entries=10_000)


def _plaintext(settings: Settings, ciphertext: str) -> str:
    """Decrypted once per ``credentials_cache_ttl_s`` and ciphertext: a changed or rotated
    key is a new ciphertext, so it is never served stale."""
    cache = _cache(settings.credentials_cache_ttl_s)
    digest = hashlib.sha256(ciphertext.encode("ascii")).hexdigest()
    found = cache.get(digest)
    if found is None:
        found = keyring_for(settings).decrypt(ciphertext)
        cache.put(digest, found)
    return found


def _check_fields(provider: str, fields: CredentialFields) -> None:
    _check_token(fields.api_key, "api_key", MAX_KEY_CHARS)
    allowed = EXTRA_FIELDS[provider]
    for name in ("account_id", "organization", "project"):
        value = getattr(fields, name)
        if value is None:
            continue
        if name not in allowed:
            raise InvalidRequest(
                f"{provider} credentials take no {name}"
                + (f"; they take {', '.join(allowed)}" if allowed else ""),
                param=name,
                code="unknown_parameter",
            )
        _check_token(value, name, MAX_ID_CHARS)
    if provider == "fireworks" and not fields.account_id:
        raise InvalidRequest(
            "fireworks credentials need the account_id the key belongs to", param="account_id"
        )


def _check_token(value: str, name: str, limit: int) -> None:
    # Keys travel in HTTP headers: no whitespace or control characters, bounded length.
    if not value or len(value) > limit:
        raise InvalidRequest(f"{name} must be 1-{limit} characters", param=name)
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidRequest(
            f"{name} must be printable ASCII without spaces", param=name, code="invalid_value"
        )
