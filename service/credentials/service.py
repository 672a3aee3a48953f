"""A tenant's own provider credentials: stored encrypted, shown only by their last four
characters, and chosen over the operator's by ``credentials_for`` (the one place that decides
whose key a provider call uses: jobs today, eval runs and studies alike)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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
    "together": ("project",),
    "mistral": (),
    "fireworks": ("account_id",),
    "vertex": ("project", "bucket"),
}
# Providers whose secret is a service account's JSON key rather than an API key.
SERVICE_ACCOUNT_PROVIDERS = frozenset({"vertex"})
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


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
    service_account_json: str | None = field(default=None, repr=False)
    """Vertex: the tenant's own service account key (JSON); None: the operator's key file."""
    bucket: str | None = None


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
    api_key: str | None
    account_id: str | None = None
    organization: str | None = None
    project: str | None = None
    bucket: str | None = None
    service_account: Mapping[str, str] | None = field(default=None, repr=False)


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
    project = fields.project
    if provider in SERVICE_ACCOUNT_PROVIDERS:
        account = dict(fields.service_account or {})
        _check_service_account(settings, account)
        secret, last4 = json.dumps(account, sort_keys=True), account["private_key_id"][-4:]
        project = project or account.get("project_id")
        if not project:
            raise InvalidRequest(
                "vertex credentials need the project jobs run in: send project, or a "
                "service_account with its project_id",
                param="project",
            )
    else:
        assert fields.api_key is not None  # _check_fields
        secret, last4 = fields.api_key, fields.api_key[-4:]
    repository = CredentialRepository(session)
    row = repository.get(tenant_id, provider)
    ciphertext = keyring_for(settings).encrypt(secret)
    if row is None:
        row = ProviderCredential(tenant_id=tenant_id, provider=provider)
        session.add(row)
    row.api_key_encrypted = ciphertext
    row.api_key_last4 = last4
    row.account_id = fields.account_id
    row.organization = fields.organization
    row.project = project
    row.bucket = fields.bucket
    session.flush()
    return row


def has_own_credentials(session: Session, tenant_id: str, provider: str) -> bool:
    return CredentialRepository(session).get(tenant_id, provider) is not None


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
    if row is not None and provider in SERVICE_ACCOUNT_PROVIDERS:
        return ProviderCredentials(
            provider=provider,
            source=CredentialSource.TENANT,
            api_key="",
            project=row.project,
            service_account_json=_plaintext(settings, row.api_key_encrypted),
            bucket=row.bucket,
        )
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
        project={"vertex": settings.vertex_project, "together": settings.together_project_id}.get(
            provider
        ),
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
    if provider in SERVICE_ACCOUNT_PROVIDERS:
        if fields.api_key is not None:
            raise InvalidRequest(
                f"{provider} credentials are a service account: send service_account (its JSON "
                "key) and bucket, not api_key",
                param="api_key",
                code="unknown_parameter",
            )
        if not fields.service_account:
            raise InvalidRequest(
                f"{provider} credentials need service_account (the service account's JSON key)",
                param="service_account",
            )
        if not fields.bucket:
            raise InvalidRequest(
                f"{provider} credentials need the Cloud Storage bucket datasets go to",
                param="bucket",
            )
    else:
        if fields.service_account is not None:
            raise InvalidRequest(
                f"{provider} credentials take an api_key, not a service_account",
                param="service_account",
                code="unknown_parameter",
            )
        if fields.api_key is None:
            raise InvalidRequest(f"{provider} credentials need an api_key", param="api_key")
        _check_token(fields.api_key, "api_key", MAX_KEY_CHARS)
    allowed = EXTRA_FIELDS[provider]
    for name in ("account_id", "organization", "project", "bucket"):
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


def _check_service_account(settings: Settings, account: Mapping[str, str]) -> None:
    """Only a token endpoint we trust: google-auth posts the signed assertion to the key's
    ``token_uri`` from our workers, so any other address would let a tenant make our workers
    call a host of its choosing."""
    trusted = {GOOGLE_TOKEN_URI}
    if settings.vertex_base_url:  # a server pointed at another Vertex endpoint (an emulator)
        trusted.add(settings.vertex_base_url.rstrip("/") + "/token")
    if account.get("token_uri") not in trusted:
        raise InvalidRequest(
            f"service_account.token_uri must be {GOOGLE_TOKEN_URI}",
            param="service_account.token_uri",
        )
