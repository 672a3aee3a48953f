"""Webhook endpoints of a tenant: registration (URL vetted, secret shown once), updates,
secret rotation with a grace period, and the tenant-level secret for a job's own URL.
Signing secrets are stored encrypted (``service.encryption``); only this module reads them."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.db.models import TenantWebhookSecret, WebhookEndpoint
from service.db.types import utcnow
from service.encryption.keyring import Keyring, keyring_for
from service.errors import InvalidRequest, NotFound
from service.settings import Settings
from service.webhooks.events import EVENT_TYPES, TERMINAL_EVENTS
from service.webhooks.repository import WebhookRepository
from service.webhooks.signing import generate_secret
from service.webhooks.ssrf import Resolver, UrlPolicy, check_webhook_url

MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint together with its new secret: the only moment the secret is shown."""

    endpoint: WebhookEndpoint
    secret: str


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(
        allow_http=settings.webhook_allow_http,
        allow_private=settings.webhook_allow_private,
        extra_ports=frozenset(settings.webhook_allowed_ports),
        any_port=settings.webhook_allow_any_port,
    )


def validate_webhook_url(
    url: str, settings: Settings, resolver: Resolver = socket.getaddrinfo
) -> str:
    """Registration-time SSRF check for any webhook URL (endpoints, a job's ``webhook_url``);
    raises ``InvalidRequest`` (param ``url``) saying what is wrong. Returns the URL, trimmed."""
    return check_webhook_url(url, url_policy(settings), resolver).url


def create_endpoint(
    session: Session,
    tenant_id: str,
    *,
    url: str,
    settings: Settings,
    events: Sequence[str] | None = None,
    description: str = "",
    enabled: bool = True,
    resolver: Resolver = socket.getaddrinfo,
) -> EndpointWithSecret:
    repository = WebhookRepository(session)
    if repository.endpoint_count(tenant_id) >= settings.webhook_max_endpoints:
        raise InvalidRequest(
            f"A tenant may have at most {settings.webhook_max_endpoints} webhook endpoints; "
            "delete one first.",
            code="endpoint_limit_reached",
        )
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        url=validate_webhook_url(url, settings, resolver),
        events=_validated_events(events),
        description=_validated_description(description),
        enabled=enabled,
        secret=keyring_for(settings).encrypt(secret),
    )
    repository.add(endpoint)
    return EndpointWithSecret(endpoint, secret)


def list_endpoints(session: Session, tenant_id: str) -> list[WebhookEndpoint]:
    return WebhookRepository(session).endpoints_of(tenant_id)


def get_endpoint(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = WebhookRepository(session).endpoint(tenant_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint found with id {endpoint_id!r}.", param="id")
    return endpoint


def update_endpoint(
    session: Session,
    tenant_id: str,
    endpoint_id: str,
    *,
    settings: Settings,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    # The stored URL is checked again too: the policy may have tightened since it was saved,
    # and an update must not leave a URL in place that today's policy refuses.
    endpoint.url = validate_webhook_url(
        url if url is not None else endpoint.url, settings, resolver
    )
    if events is not None:
        endpoint.events = _validated_events(events)
    if description is not None:
        endpoint.description = _validated_description(description)
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:
            # Re-enabling is the tenant saying the receiver is fixed: start the clock afresh.
            endpoint.disabled_reason = None
            endpoint.failing_since = None
    session.flush()
    return endpoint


def delete_endpoint(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    repository = WebhookRepository(session)
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    # Its deliveries outlive it in the log (endpoint_id becomes NULL), but must not be sent.
    for delivery in repository.pending_deliveries_of_endpoint(endpoint.id):
        delivery.status = "failed"
        delivery.next_attempt_at = None
        delivery.last_error = "endpoint deleted"
    repository.delete_endpoint(endpoint)
    return endpoint


def rotate_endpoint_secret(
    session: Session,
    tenant_id: str,
    endpoint_id: str,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing beside it for ``webhook_secret_grace_s``."""
    endpoint = get_endpoint(session, tenant_id, endpoint_id)
    secret = generate_secret()
    _rotate(endpoint, secret, settings, now or utcnow())
    session.flush()
    return EndpointWithSecret(endpoint, secret)


def endpoint_secrets(
    endpoint: WebhookEndpoint | TenantWebhookSecret, now: datetime, keyring: Keyring
) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while its
    grace period lasts."""
    secrets = [keyring.decrypt(endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        secrets.append(keyring.decrypt(endpoint.previous_secret))
    return secrets


def tenant_secret(session: Session, tenant_id: str, keyring: Keyring) -> TenantWebhookSecret:
    """The tenant-level secret that signs deliveries to jobs' own ``webhook_url``s; created on
    first use. Unlike endpoint secrets it can be read again (as Svix lets one reveal a secret),
    since a job's URL has no creation moment of its own to show it at."""
    repository = WebhookRepository(session)
    existing = repository.tenant_secret(tenant_id)
    if existing is not None:
        return existing
    return repository.add(
        TenantWebhookSecret(tenant_id=tenant_id, secret=keyring.encrypt(generate_secret()))
    )


@dataclass(frozen=True)
class RevealedSecret:
    secret: str
    previous_secret_expires_at: datetime | None


def reveal_tenant_secret(session: Session, tenant_id: str, settings: Settings) -> RevealedSecret:
    keyring = keyring_for(settings)
    row = tenant_secret(session, tenant_id, keyring)
    return RevealedSecret(keyring.decrypt(row.secret), row.previous_secret_expires_at)


def rotate_tenant_secret(
    session: Session, tenant_id: str, *, settings: Settings, now: datetime | None = None
) -> RevealedSecret:
    row = tenant_secret(session, tenant_id, keyring_for(settings))
    secret = generate_secret()
    _rotate(row, secret, settings, now or utcnow())
    session.flush()
    return RevealedSecret(secret, row.previous_secret_expires_at)


def _rotate(
    row: WebhookEndpoint | TenantWebhookSecret, secret: str, settings: Settings, now: datetime
) -> None:
    row.previous_secret = row.secret  # both stay encrypted
    row.previous_secret_expires_at = now + timedelta(seconds=settings.webhook_secret_grace_s)
    row.secret = keyring_for(settings).encrypt(secret)


def _validated_events(events: Sequence[str] | None) -> list[str]:
    if events is None:
        return list(TERMINAL_EVENTS)
    if isinstance(events, str) or not events:
        raise InvalidRequest(
            "events must be a non-empty list of event types", param="events", code="invalid_value"
        )
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise InvalidRequest(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; "
            f"supported: {', '.join(EVENT_TYPES)}",
            param="events",
            code="invalid_value",
        )
    return list(dict.fromkeys(events))


def _validated_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"description is longer than {MAX_DESCRIPTION} characters", param="description"
        )
    return description
