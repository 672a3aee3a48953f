"""``/metrics`` exposes the series operators alert on, computed from real rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session

from service.db.models import File, Job, OutboxMessage
from service.db.types import utcnow
from service.observability.metrics import count_webhook_delivery, observe_provider_call
from service.settings import Settings
from tests.factories import make_tenant


def _samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    matching = [v for lbl, v in samples if all(lbl.get(k) == want for k, want in labels.items())]
    assert len(matching) == 1, (labels, samples)
    return matching[0]


def _add_job(session: Session, tenant_id: str, file_id: str, provider: str, status: str) -> Job:
    job = Job(
        tenant_id=tenant_id,
        provider=provider,
        model="gpt-4o-mini",
        status=status,
        training_file_id=file_id,
    )
    session.add(job)
    return job


def test_metrics_expose_jobs_lag_queues_and_counters(
    client: TestClient, db_session: Session
) -> None:
    tenant = make_tenant(db_session)
    training = File(
        tenant_id=tenant.id,
        filename="train.jsonl",
        purpose="fine-tune",
        bytes=10,
        sha256="0" * 64,
        storage_path="files/x",
    )
    db_session.add(training)
    db_session.flush()
    _add_job(db_session, tenant.id, training.id, "openai", "succeeded")
    _add_job(db_session, tenant.id, training.id, "openai", "succeeded")
    overdue = _add_job(db_session, tenant.id, training.id, "together", "running")
    overdue.next_poll_at = utcnow() - timedelta(seconds=120)
    db_session.flush()
    db_session.add(
        OutboxMessage(
            task="tuneforge.launch_job",
            target_id=overdue.id,
            dedupe_key=f"launch:{overdue.id}",
            available_at=utcnow() - timedelta(seconds=30),
        )
    )
    db_session.commit()
    observe_provider_call("together", "create_job", 0.3)
    observe_provider_call("together", "create_job", 1.2, "ProviderUnavailable")
    count_webhook_delivery("delivered")

    found = _samples(client)

    assert _value(found["tuneforge_jobs"], status="succeeded", provider="openai") == 2
    assert _value(found["tuneforge_jobs"], status="running", provider="together") == 1
    assert _value(found["tuneforge_reconciler_lag_seconds"], source="job_poll") >= 120
    assert 30 <= _value(found["tuneforge_reconciler_lag_seconds"], source="outbox") < 120
    assert _value(found["tuneforge_reconciler_lag_seconds"], source="webhook_delivery") == 0
    assert _value(found["tuneforge_broker_up"]) == 1
    assert {lbl["queue"] for lbl, _ in found["tuneforge_queue_depth"]} == {
        "default",
        "webhooks",
        "gpu",
    }
    assert (
        _value(
            found["tuneforge_provider_call_errors_total"],
            provider="together",
            operation="create_job",
            error_class="ProviderUnavailable",
        )
        >= 1
    )
    assert (
        _value(
            found["tuneforge_provider_call_duration_seconds_count"],
            provider="together",
            operation="create_job",
        )
        >= 2
    )
    assert _value(found["tuneforge_webhook_delivery_attempts_total"], outcome="delivered") >= 1
    assert "tuneforge_webhook_deliveries" in {
        f.name for f in text_string_to_metric_families(client.get("/metrics").text)
    }


def test_requests_are_timed_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    found = _samples(client)
    assert (
        _value(
            found["tuneforge_http_request_duration_seconds_count"],
            method="GET",
            route="/healthz",
            status="200",
        )
        >= 1
    )


def test_a_metrics_token_guards_metrics_and_leaves_docs_public(
    app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["type"] == "invalid_request_error"
            assert "tuneforge_jobs" not in refused.text
        allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert allowed.status_code == 200 and "tuneforge_jobs" in allowed.text
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_production_refuses_an_open_metrics_endpoint(tmp_path: Path) -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "data_dir": tmp_path,
        "secret_key": SecretStr("s" * 40),
        "encryption_keys": SecretStr(Fernet.generate_key().decode()),
        "_env_file": None,
    }
    with pytest.raises(ValidationError, match="TUNEFORGE_METRICS_TOKEN"):
        Settings(**production)
    assert Settings(**production, metrics_public=True).metrics_token is None
    assert Settings(**production, metrics_token=SecretStr("t")).metrics_token is not None
