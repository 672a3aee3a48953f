"""Reading the delivery log: deliveries of a tenant, filtered, with their attempts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.db.models import WebhookAttempt, WebhookDelivery
from service.errors import InvalidRequest, NotFound
from service.webhooks.repository import WebhookRepository

DELIVERY_STATUSES = ("pending", "delivered", "failed")
MAX_PAGE = 100


@dataclass(frozen=True)
class DeliveryWithAttempts:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


@dataclass(frozen=True)
class DeliveryPage:
    items: list[DeliveryWithAttempts]
    has_more: bool


def get_delivery(session: Session, tenant_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = WebhookRepository(session).delivery(tenant_id, delivery_id)
    if delivery is None:
        raise NotFound(f"No webhook delivery found with id {delivery_id!r}.", param="id")
    return delivery


def get_delivery_with_attempts(
    session: Session, tenant_id: str, delivery_id: str
) -> DeliveryWithAttempts:
    delivery = get_delivery(session, tenant_id, delivery_id)
    attempts = WebhookRepository(session).attempts_of([delivery.id])[delivery.id]
    return DeliveryWithAttempts(delivery, attempts)


def list_deliveries(
    session: Session,
    tenant_id: str,
    *,
    job_id: str | None = None,
    endpoint_id: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 20,
) -> DeliveryPage:
    """Newest first; ``after`` is the last id of the previous page."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidRequest(
            f"status must be one of {', '.join(DELIVERY_STATUSES)}", param="status"
        )
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", param="limit")
    repository = WebhookRepository(session)
    deliveries = repository.list_deliveries(
        tenant_id,
        job_id=job_id,
        endpoint_id=endpoint_id,
        status=status,
        after=after,
        limit=limit + 1,
    )
    page = deliveries[:limit]
    attempts = repository.attempts_of([delivery.id for delivery in page])
    return DeliveryPage(
        [DeliveryWithAttempts(delivery, attempts[delivery.id]) for delivery in page],
        has_more=len(deliveries) > limit,
    )
