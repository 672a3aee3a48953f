"""HTTP routes: ``/v1/webhook_endpoints``, ``/v1/webhook_secret`` and ``/v1/webhook_deliveries``.
Parsing and rendering only; each route calls one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.query import After
from service.db.models import WebhookAttempt, WebhookEndpoint
from service.webhooks import endpoints as endpoint_service
from service.webhooks.deliveries import redeliver
from service.webhooks.events import EVENT_TYPES, TERMINAL_EVENTS
from service.webhooks.objects import (
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookEndpointObject,
    WebhookSecret,
)
from service.webhooks.queries import (
    DeliveryWithAttempts,
    get_delivery_with_attempts,
    list_deliveries,
)

router = APIRouter(prefix="/v1", tags=["webhooks"])
# An endpoint's secret is in the body only when create or rotate_secret shows it.
_ENDPOINT: dict[str, Any] = {
    "response_model": WebhookEndpointObject,
    "response_model_exclude_unset": True,
}
_ENDPOINTS: dict[str, Any] = {
    "response_model": WebhookEndpointList,
    "response_model_exclude_unset": True,
}


EVENTS_HELP = (
    "event types to send (default: the jobs' ends, "
    f"{', '.join(TERMINAL_EVENTS)}); any of: {', '.join(EVENT_TYPES)}"
)


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048)
    events: list[str] | None = Field(default=None, max_length=32, description=EVENTS_HELP)
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    events: list[str] | None = Field(default=None, max_length=32, description=EVENTS_HELP)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


def _ts(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def _endpoint_body(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "webhook_endpoint",
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": _ts(endpoint.failing_since),
        "previous_secret_expires_at": _ts(endpoint.previous_secret_expires_at),
        "created_at": _ts(endpoint.created_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _attempt_body(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempted_at": _ts(attempt.attempted_at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response": attempt.response_excerpt,
        "error": attempt.error,
    }


def _delivery_body(item: DeliveryWithAttempts) -> dict[str, Any]:
    delivery = item.delivery
    return {
        "object": "webhook_delivery",
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "job_id": delivery.job_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _ts(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _ts(delivery.created_at),
        "delivered_at": _ts(delivery.delivered_at),
        "payload": delivery.payload,
        "attempt_log": [_attempt_body(attempt) for attempt in item.attempts],
    }


def _secret_body(row: endpoint_service.RevealedSecret) -> dict[str, Any]:
    return {
        "object": "webhook_secret",
        "secret": row.secret,
        "previous_secret_expires_at": _ts(row.previous_secret_expires_at),
    }


@router.post("/webhook_endpoints", **_ENDPOINT)
def create_endpoint(
    body: EndpointCreate, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    created = endpoint_service.create_endpoint(
        session,
        caller.tenant_id,
        url=body.url,
        settings=settings,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return _endpoint_body(created.endpoint, created.secret)


@router.get("/webhook_endpoints", **_ENDPOINTS)
def list_endpoints(caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    rows = endpoint_service.list_endpoints(session, caller.tenant_id)
    return {"object": "list", "data": [_endpoint_body(row) for row in rows]}


@router.get("/webhook_endpoints/{endpoint_id}", **_ENDPOINT)
def get_endpoint(endpoint_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    return _endpoint_body(endpoint_service.get_endpoint(session, caller.tenant_id, endpoint_id))


@router.post("/webhook_endpoints/{endpoint_id}", **_ENDPOINT)
def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    endpoint = endpoint_service.update_endpoint(
        session,
        caller.tenant_id,
        endpoint_id,
        settings=settings,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return _endpoint_body(endpoint)


@router.patch("/webhook_endpoints/{endpoint_id}", **_ENDPOINT)
def patch_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """The same change as ``POST /v1/webhook_endpoints/{id}``."""
    return update_endpoint(endpoint_id, body, caller, session, settings)


@router.delete("/webhook_endpoints/{endpoint_id}", response_model=WebhookEndpointDeleted)
def delete_endpoint(endpoint_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    endpoint_service.delete_endpoint(session, caller.tenant_id, endpoint_id)
    return {"object": "webhook_endpoint.deleted", "id": endpoint_id, "deleted": True}


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret", **_ENDPOINT)
def rotate_endpoint_secret(
    endpoint_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    rotated = endpoint_service.rotate_endpoint_secret(
        session, caller.tenant_id, endpoint_id, settings=settings
    )
    return _endpoint_body(rotated.endpoint, rotated.secret)


@router.get("/webhook_secret", response_model=WebhookSecret)
def get_tenant_secret(
    caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """The secret that signs deliveries to jobs' own ``webhook_url``s."""
    return _secret_body(endpoint_service.reveal_tenant_secret(session, caller.tenant_id, settings))


@router.post("/webhook_secret/rotate", response_model=WebhookSecret)
def rotate_tenant_secret(
    caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    row = endpoint_service.rotate_tenant_secret(session, caller.tenant_id, settings=settings)
    return _secret_body(row)


@router.get("/webhook_deliveries", response_model=WebhookDeliveryList)
def list_webhook_deliveries(
    caller: CallerDep,
    session: SessionDep,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    endpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    page = list_deliveries(
        session,
        caller.tenant_id,
        job_id=job_id,
        endpoint_id=endpoint_id,
        status=status,
        after=after,
        limit=limit,
    )
    return {
        "object": "list",
        "data": [_delivery_body(item) for item in page.items],
        "has_more": page.has_more,
        "last_id": page.items[-1].delivery.id if page.items else None,
    }


@router.get("/webhook_deliveries/{delivery_id}", response_model=WebhookDelivery)
def get_webhook_delivery(
    delivery_id: str, caller: CallerDep, session: SessionDep
) -> dict[str, Any]:
    return _delivery_body(get_delivery_with_attempts(session, caller.tenant_id, delivery_id))


@router.post("/webhook_deliveries/{delivery_id}/redeliver", response_model=WebhookDelivery)
def redeliver_webhook(delivery_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    redeliver(session, caller.tenant_id, delivery_id)
    return _delivery_body(get_delivery_with_attempts(session, caller.tenant_id, delivery_id))
