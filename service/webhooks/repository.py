"""SQL for webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import (
    TenantWebhookSecret,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from service.errors import UnknownCursor

_Row = TypeVar("_Row", WebhookEndpoint, WebhookDelivery, WebhookAttempt, TenantWebhookSecret)


class WebhookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _locks_rows(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def add(self, row: _Row) -> _Row:
        self.session.add(row)
        self.session.flush()
        return row

    # endpoints

    def endpoint(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self.session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
            )
        ).first()

    def endpoint_by_id(self, endpoint_id: str) -> WebhookEndpoint | None:
        return self.session.get(WebhookEndpoint, endpoint_id)

    def endpoints_of(self, tenant_id: str, *, enabled_only: bool = False) -> list[WebhookEndpoint]:
        query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
        if enabled_only:
            query = query.where(WebhookEndpoint.enabled.is_(True))
        return list(self.session.scalars(query.order_by(WebhookEndpoint.created_at)))

    def endpoint_count(self, tenant_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(WebhookEndpoint)
                .where(WebhookEndpoint.tenant_id == tenant_id)
            )
            or 0
        )

    def delete_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.session.delete(endpoint)
        self.session.flush()

    def tenant_secret(self, tenant_id: str) -> TenantWebhookSecret | None:
        return self.session.get(TenantWebhookSecret, tenant_id)

    def secret_holders_for_update(
        self,
    ) -> Iterator[WebhookEndpoint | TenantWebhookSecret]:
        """Every endpoint and tenant secret row, locked (``tuneforge secrets rotate``)."""
        endpoints = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
        tenant_secrets = select(TenantWebhookSecret).order_by(TenantWebhookSecret.tenant_id)
        if self._locks_rows:
            endpoints = endpoints.with_for_update()
            tenant_secrets = tenant_secrets.with_for_update()
        yield from self.session.scalars(endpoints.execution_options(yield_per=500))
        yield from self.session.scalars(tenant_secrets.execution_options(yield_per=500))

    # deliveries

    def delivery(self, tenant_id: str, delivery_id: str) -> WebhookDelivery | None:
        return self.session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.tenant_id == tenant_id
            )
        ).first()

    def delivery_for_update(self, delivery_id: str) -> WebhookDelivery | None:
        """The delivery, row-locked; None if absent or another worker holds it right now."""
        # populate_existing: what the lock protects must be read fresh, not from the session.
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .execution_options(populate_existing=True)
        )
        if self._locks_rows:
            query = query.with_for_update(skip_locked=True)
        return self.session.scalars(query).first()

    def pending_deliveries_of_endpoint(self, endpoint_id: str) -> list[WebhookDelivery]:
        return list(
            self.session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.status == "pending",
                )
            )
        )

    def due_deliveries(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        if self._locks_rows:
            query = query.with_for_update(skip_locked=True)
        return list(self.session.scalars(query))

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        job_id: str | None,
        endpoint_id: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        """Newest first; ``after`` is the id of the last delivery of the previous page."""
        query = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id)
        if job_id is not None:
            query = query.where(WebhookDelivery.job_id == job_id)
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if after is not None:
            cursor = self.delivery(tenant_id, after)
            if cursor is None:
                raise UnknownCursor(after)
            if cursor is not None:
                query = query.where(
                    (WebhookDelivery.created_at < cursor.created_at)
                    | (
                        (WebhookDelivery.created_at == cursor.created_at)
                        & (WebhookDelivery.id < cursor.id)
                    )
                )
        query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        return list(self.session.scalars(query.limit(limit)))

    # attempts

    def attempts_of(self, delivery_ids: Sequence[str]) -> dict[str, list[WebhookAttempt]]:
        grouped: dict[str, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
        if not delivery_ids:
            return grouped
        rows = self.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.id)
        )
        for row in rows:
            grouped[row.delivery_id].append(row)
        return grouped

    def attempt_count(self, delivery_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
            )
            or 0
        )
