"""``POST /provider_webhooks/openai``: a verified fine-tuning event from OpenAI polls that job
at once, ahead of routine polls; anything unsigned, stale or unconfigured is refused."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from service.api.deps import get_settings_dep
from service.db.models import Job, OutboxMessage
from service.db.types import utcnow
from service.jobs.lifecycle.steps import PROMPT_POLL_TASK
from service.settings import Settings
from tests.service.webhooks.helpers import tenant_and_job

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
URL = "/provider_webhooks/openai"


def _configured(app: FastAPI, settings: Settings, secret: str | None = SECRET) -> None:
    configured = settings.model_copy(
        update={"openai_webhook_secret": None if secret is None else SecretStr(secret)}
    )

    async def _settings() -> Settings:
        return configured

    app.dependency_overrides[get_settings_dep] = _settings


def _signed(
    event: dict[str, Any], *, secret: str = SECRET, at: datetime | None = None, msg_id: str = ""
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    msg_id = msg_id or f"wh_{secrets.token_hex(8)}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body, headers


def _event(provider_job_id: str, kind: str = "fine_tuning.job.succeeded") -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "created_at": int(datetime.now(UTC).timestamp()),
        "type": kind,
        "data": {"id": provider_job_id},
    }


def _prompt_polls(session: Session, job_id: str) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.target_id == job_id, OutboxMessage.task == PROMPT_POLL_TASK
            )
        )
    )


def test_a_signed_event_polls_its_job_now_once_per_webhook_id(
    app: FastAPI, client: TestClient, db_session: Session, settings: Settings
) -> None:
    _configured(app, settings)
    _, job = tenant_and_job(db_session, status="running", provider_job_id="ftjob-push-1")
    job.next_poll_at = utcnow() + timedelta(minutes=10)
    db_session.flush()
    body, headers = _signed(_event("ftjob-push-1"), msg_id="wh_once")

    first = client.post(URL, content=body, headers=headers)
    again = client.post(URL, content=body, headers=headers)  # the provider retried

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "job_id": job.id}
    assert again.status_code == 200
    db_session.expire_all()
    assert len(_prompt_polls(db_session, job.id)) == 1
    polled = db_session.get(Job, job.id)
    assert polled is not None and polled.next_poll_at is not None
    assert polled.next_poll_at <= utcnow()


def test_events_about_other_things_are_acknowledged_and_ignored(
    app: FastAPI, client: TestClient, db_session: Session, settings: Settings
) -> None:
    _configured(app, settings)
    _, job = tenant_and_job(db_session, status="succeeded", provider_job_id="ftjob-push-2")
    for event in (
        _event("ftjob-not-ours"),
        _event("ftjob-push-2"),  # already terminal here
        _event("batch_1", kind="batch.completed"),
    ):
        body, headers = _signed(event)
        answer = client.post(URL, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["job_id"] is None
    assert _prompt_polls(db_session, job.id) == []


def test_bad_signatures_stale_timestamps_and_bad_bodies_are_refused(
    app: FastAPI, client: TestClient, db_session: Session, settings: Settings
) -> None:
    _configured(app, settings)
    _, job = tenant_and_job(db_session, status="running", provider_job_id="ftjob-push-3")
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    wrong_key = _signed(_event("ftjob-push-3"), secret=other)
    stale = _signed(_event("ftjob-push-3"), at=datetime.now(UTC) - timedelta(minutes=10))
    body, headers = _signed(_event("ftjob-push-3"))
    unsigned = (body, {"content-type": "application/json"})
    tampered = (body.replace(b"succeeded", b"cancelled"), headers)
    for bad_body, bad_headers in (wrong_key, stale, unsigned, tampered):
        answer = client.post(URL, content=bad_body, headers=bad_headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "invalid_signature"
    no_job_id = _signed({"type": "fine_tuning.job.failed", "data": {}})
    answer = client.post(URL, content=no_job_id[0], headers=no_job_id[1])
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "data.id"
    too_big = client.post(URL, content=b"x" * (65 * 1024), headers=headers)
    assert too_big.status_code == 413
    assert _prompt_polls(db_session, job.id) == []


def test_without_a_configured_secret_the_route_answers_404(
    app: FastAPI, client: TestClient, settings: Settings
) -> None:
    body, headers = _signed(_event("ftjob-push-4"))
    for unset in (None, ""):  # an empty variable in a compose file means unset
        _configured(app, settings, secret=unset)
        answer = client.post(URL, content=body, headers=headers)
        assert answer.status_code == 404
        assert "TUNEFORGE_OPENAI_WEBHOOK_SECRET" in answer.json()["error"]["message"]
