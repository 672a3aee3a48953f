"""Creating a ``vertex/…`` job: unset Vertex settings, or a dataset Gemini cannot take, are a
400 naming the setting or the line, with no job stored (so nothing is ever uploaded); a good
request is priced from the catalog (training tokens × the epochs Vertex will run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import chat_lines, jsonl, make_file

URL = "/v1/fine_tuning/jobs"
MODEL = "vertex/gemini-2.5-flash"


@pytest.fixture
def vertex_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Settings:
    key_file = tmp_path / "key.json"
    key_file.write_text("{}")
    monkeypatch.setattr(settings, "vertex_project", "proj")
    monkeypatch.setattr(settings, "vertex_credentials_file", key_file)
    monkeypatch.setattr(settings, "vertex_bucket", "bucket")
    return settings


def _jobs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("vertex_project", "TUNEFORGE_VERTEX_PROJECT"),
        ("vertex_bucket", "TUNEFORGE_VERTEX_BUCKET"),
        ("vertex_credentials_file", "TUNEFORGE_VERTEX_CREDENTIALS_FILE"),
    ],
)
def test_missing_settings_are_a_400_naming_them(
    client: TestClient,
    db_session: Session,
    vertex_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    unset: str,
    named: str,
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    file = make_file(db_session, vertex_settings, tenant)
    db_session.commit()
    monkeypatch.setattr(vertex_settings, unset, None)

    response = client.post(URL, json={"model": MODEL, "training_file": file.id}, headers=headers)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "provider_not_configured"
    assert named in error["message"] and error["settings"] == [named]
    assert _jobs(db_session) == 0


def test_a_dataset_gemini_cannot_take_is_a_400_naming_the_line(
    client: TestClient, db_session: Session, vertex_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    lines = chat_lines(12)
    lines[2]["messages"][2]["weight"] = 0  # Vertex trains on every model turn
    file = make_file(db_session, vertex_settings, tenant, jsonl(lines))
    db_session.commit()

    response = client.post(URL, json={"model": MODEL, "training_file": file.id}, headers=headers)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "training_file" and error["line"] == 3
    assert "weight" in error["message"]
    assert _jobs(db_session) == 0


def test_a_good_request_is_queued_with_a_catalog_estimate(
    client: TestClient, db_session: Session, vertex_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    file = make_file(db_session, vertex_settings, tenant)
    db_session.commit()

    response = client.post(
        URL,
        json={
            "model": MODEL,
            "training_file": file.id,
            "provider_options": {"adapter_size": 4},
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "vertex" and body["model"] == MODEL
    assert body["estimated_cost"] is not None
    refused = client.post(
        URL,
        json={"model": MODEL, "training_file": file.id, "provider_options": {"lora_rank": 8}},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "provider_options.lora_rank"


def test_providers_list_vertex_with_training_and_serving_prices(
    client: TestClient, db_session: Session, vertex_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    db_session.commit()

    listing = client.get("/v1/providers", headers=headers).json()["data"]

    vertex = next(p for p in listing if p["id"] == "vertex")
    assert vertex["configured"] is True and vertex["status"] == "available"
    flash = next(m for m in vertex["models"] if m["id"] == "gemini-2.5-flash")
    assert flash["price"]["amount"] and "UNVERIFIED" in flash["price"]["source"]
    assert flash["price"]["date"] == "2026-11-29"
    assert flash["inference_price"]["input"] and flash["inference_price"]["output"]
    assert flash["lifecycle"]["date"] == "2026-06-17"
    retired = next(m for m in vertex["models"] if m["id"] == "gemini-2.0-flash-001")
    assert retired["lifecycle"]["status"] == "retired"
