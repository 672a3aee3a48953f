"""Plain factories and a verifying check shared by the webhook tests."""

from __future__ import annotations

import hashlib
import json
import socket
from decimal import Decimal
from typing import Any

import openai
from openai.types.webhooks import (
    FineTuningJobCancelledWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobSucceededWebhookEvent,
)
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service.db.models import File, Job, Tenant
from tests.factories import make_tenant
from tests.service.webhooks.receiver import Received

FINE_TUNING_EVENTS = (
    FineTuningJobSucceededWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobCancelledWebhookEvent,
)


def make_job(session: Session, tenant: Tenant, **fields: Any) -> Job:
    training = File(
        tenant_id=tenant.id,
        filename="train.jsonl",
        purpose="fine-tune",
        bytes=10,
        sha256=hashlib.sha256(b"x").hexdigest(),
        storage_path="/dev/null",
    )
    session.add(training)
    session.flush()
    job = Job(
        tenant_id=tenant.id,
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        training_file_id=training.id,
        status=fields.pop("status", "succeeded"),
        fine_tuned_model="ft:gpt-4o-mini:tf::x",
        cost=Decimal("0.42"),
        **fields,
    )
    session.add(job)
    session.flush()
    return job


def tenant_and_job(session: Session, **fields: Any) -> tuple[Tenant, Job]:
    tenant = make_tenant(session)
    return tenant, make_job(session, tenant, **fields)


def resolving_to(address: str) -> Any:
    def resolver(host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolver


def verify_with_both_libraries(received: Received, secret: str) -> dict[str, Any]:
    """What a receiver does: check the signature with standardwebhooks and, for OpenAI's event
    types, with the openai SDK's ``webhooks.unwrap``. Returns the payload."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    if payload["type"] in (
        "fine_tuning.job.succeeded",
        "fine_tuning.job.failed",
        "fine_tuning.job.cancelled",
    ):
        client = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
        event = client.webhooks.unwrap(received.body, received.headers, secret=secret)
        assert isinstance(event, FINE_TUNING_EVENTS)
        assert event.type == payload["type"]
        assert event.data.id == payload["data"]["id"]
    assert json.loads(received.body) == payload
    return payload
