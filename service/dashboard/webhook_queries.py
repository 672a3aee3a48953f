"""Read-only SQL for the webhooks page: every tenant's endpoints and recent deliveries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Tenant, WebhookDelivery, WebhookEndpoint
from service.webhooks.queries import DELIVERY_STATUSES, DeliveryWithAttempts
from service.webhooks.repository import WebhookRepository

RECENT_DELIVERIES = 50


@dataclass(frozen=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    tenant_name: str


@dataclass(frozen=True)
class DeliveryRow:
    item: DeliveryWithAttempts
    tenant_name: str


class WebhookQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def endpoints(self) -> list[EndpointRow]:
        """Disabled endpoints first (they need someone's attention), then by tenant."""
        rows = self.session.execute(
            select(WebhookEndpoint, Tenant.name)
            .join(Tenant, Tenant.id == WebhookEndpoint.tenant_id)
            .order_by(WebhookEndpoint.enabled, Tenant.name, WebhookEndpoint.created_at)
        ).all()
        return [EndpointRow(endpoint, name) for endpoint, name in rows]

    def recent_deliveries(self, status: str | None = None) -> list[DeliveryRow]:
        query = select(WebhookDelivery, Tenant.name).join(
            Tenant, Tenant.id == WebhookDelivery.tenant_id
        )
        if status in DELIVERY_STATUSES:
            query = query.where(WebhookDelivery.status == status)
        rows = self.session.execute(
            query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                RECENT_DELIVERIES
            )
        ).all()
        attempts = WebhookRepository(self.session).attempts_of([d.id for d, _ in rows])
        return [
            DeliveryRow(DeliveryWithAttempts(delivery, attempts[delivery.id]), name)
            for delivery, name in rows
        ]

    def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        return self.session.get(WebhookDelivery, delivery_id)
