from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from service.db.models import Checkpoint, Job
from service.webhooks.events import (
    CHECKPOINT_CREATED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    event_type_for_status,
    job_event_payload,
)
from service.webhooks.signing import encode_body, generate_secret, signature_headers


def test_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert generate_secret() != secret


def _job() -> Job:
    return Job(
        id="ftjob-abc",
        tenant_id="ten_1",
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        status="succeeded",
        fine_tuned_model="ft:gpt-4o-mini:tf::abc",
        error=None,
        cost=Decimal("1.234567"),
        cost_basis="trained_tokens_x_price",
        estimated_cost=Decimal("1.5"),
        user_metadata={"team": "a"},
    )


def test_payload_shape_is_openais() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    payload = job_event_payload(_job(), JOB_SUCCEEDED, event_id="evt_1", created_at=now)
    assert payload["id"] == "evt_1"
    assert payload["object"] == "event"
    assert payload["type"] == "fine_tuning.job.succeeded"
    assert payload["created_at"] == int(now.timestamp())
    data = payload["data"]
    assert data["id"] == "ftjob-abc"
    assert data["status"] == "succeeded"
    assert data["fine_tuned_model"] == "ft:gpt-4o-mini:tf::abc"
    # money as in the API: decimal strings, never floats
    assert data["cost"] == {
        "amount": "1.234567",
        "currency": "USD",
        "basis": "trained_tokens_x_price",
    }
    assert data["estimated_cost"] == {"amount": "1.5", "currency": "USD"}
    assert data["error"] is None


def test_checkpoint_payload_carries_the_checkpoint() -> None:
    checkpoint = Checkpoint(id="ftckpt-1", step=10, metrics={"train_loss": 0.5})
    payload = job_event_payload(
        _job(),
        CHECKPOINT_CREATED,
        event_id="e",
        created_at=datetime.now(UTC),
        checkpoint=checkpoint,
    )
    assert payload["data"]["checkpoint"]["step_number"] == 10


def test_status_to_event_type() -> None:
    assert event_type_for_status("running") == JOB_RUNNING
    assert event_type_for_status("cancelled") == "fine_tuning.job.cancelled"
    assert event_type_for_status("queued") is None


def test_signature_verifies_with_both_libraries_and_with_either_secret() -> None:
    old, new = generate_secret(), generate_secret()
    body = encode_body(
        job_event_payload(_job(), JOB_SUCCEEDED, event_id="evt_2", created_at=datetime.now(UTC))
    )
    headers = signature_headers("msg_1", datetime.now(UTC), body, [new, old])
    assert headers["webhook-id"] == "msg_1"
    assert len(headers["webhook-signature"].split(" ")) == 2
    client = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["data"]["id"] == "ftjob-abc"
        event = client.webhooks.unwrap(body, headers, secret=secret)
        assert event.type == "fine_tuning.job.succeeded"
        assert event.data.id == "ftjob-abc"
    stranger = generate_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body, headers, secret=stranger)
    assert json.loads(body)["type"] == JOB_SUCCEEDED


def test_signature_headers_need_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        signature_headers("msg_1", datetime.now(UTC), "{}", [])
