"""The webhook API's response models: endpoints, the tenant secret, deliveries and attempts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not yet delivered; retried on the schedule
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the retry schedule is exhausted


class WebhookEndpointObject(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None = None
    failing_since: int | None = None
    previous_secret_expires_at: int | None = None
    created_at: int | None = None
    secret: str | None = Field(
        default=None, description="shown once: on create and on rotate_secret"
    )


class WebhookEndpointList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookEndpointObject]


class WebhookEndpointDeleted(BaseModel):
    object: Literal["webhook_endpoint.deleted"] = "webhook_endpoint.deleted"
    id: str
    deleted: bool


class WebhookSecret(BaseModel):
    object: Literal["webhook_secret"] = "webhook_secret"
    secret: str
    previous_secret_expires_at: int | None = None


class DeliveryAttempt(BaseModel):
    attempted_at: int | None = None
    status_code: int | None = None
    latency_ms: int | None = None
    response: str | None = Field(default=None, description="the start of the receiver's answer")
    error: str | None = None


class WebhookDelivery(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint_id: str | None = None
    job_id: str | None = None
    event_id: str
    event_type: str
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: int | None = None
    delivered_at: int | None = None
    payload: dict[str, Any] = Field(description="the signed event body, as sent")
    attempt_log: list[DeliveryAttempt]


class WebhookDeliveryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookDelivery]
    has_more: bool
    last_id: str | None = None
