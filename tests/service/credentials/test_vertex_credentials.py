"""A tenant's own Vertex AI service account (``PUT /v1/provider_credentials/vertex``): its JSON
key is stored encrypted like any provider key and never shown; the tenant's Vertex calls sign
in with it, in its project and bucket, even on a server with no Vertex account of its own;
a key whose token endpoint is not Google's (or this server's Vertex endpoint) is refused, so
a tenant can never point our workers at a host of its choosing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from emulators.service_account import service_account_info
from emulators.testing import EmulatorHandle, running_emulator
from providers.base import JobSpec
from service.auth.roles import KeyRole
from service.credentials.service import CredentialSource, credentials_for
from service.jobs.lifecycle.adapters import adapter_for
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

URL = "/v1/provider_credentials/vertex"
PROJECT = "tenant-project"
BUCKET = "tenant-bucket"
GEMINI_LINE = {
    "contents": [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
    ]
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("vertex") as handle:
        yield handle


@pytest.fixture()
def vertex_settings(settings: Settings, emulator: EmulatorHandle, app: FastAPI) -> Settings:
    """A server pointed at the (emulated) Vertex endpoints, with no service account of its
    own: no project, key file or bucket."""
    pointed = settings.model_copy(
        update={
            "vertex_base_url": emulator.sdk_base_url,
            "vertex_storage_base_url": emulator.base_url,
            "vertex_location": "us-central1",
            "vertex_project": None,
            "vertex_credentials_file": None,
            "vertex_bucket": None,
        }
    )
    app.state.settings = pointed
    return pointed


def _admin(session: Session) -> tuple[str, dict[str, str]]:
    tenant = make_tenant(session)
    key = make_key(session, tenant, role=KeyRole.ADMIN)
    session.commit()
    return tenant.id, auth(key)


def _account(emulator: EmulatorHandle) -> dict[str, str]:
    return service_account_info(f"{emulator.base_url}/token", PROJECT)


def test_a_tenant_service_account_is_stored_encrypted_and_signs_its_vertex_calls(
    app: FastAPI,
    db_session: Session,
    vertex_settings: Settings,
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    tenant_id, headers = _admin(db_session)
    account = _account(emulator)
    with TestClient(app) as client:
        put = client.put(URL, json={"service_account": account, "bucket": BUCKET}, headers=headers)
        assert put.status_code == 200, put.text
        view = put.json()
        assert view["api_key_last4"] == account["private_key_id"][-4:]
        assert (view["project"], view["bucket"]) == (PROJECT, BUCKET)
        for response in (put, client.get(URL, headers=headers)):
            assert (
                "PRIVATE KEY" not in response.text and account["client_email"] not in response.text
            )
    stored = db_session.execute(
        text("SELECT api_key_encrypted FROM provider_credentials WHERE tenant_id = :t"),
        {"t": tenant_id},
    ).scalar_one()
    assert stored.startswith("gAAAAA") and "PRIVATE KEY" not in stored

    chosen = credentials_for(db_session, vertex_settings, tenant_id, "vertex")
    assert chosen.source is CredentialSource.TENANT and chosen.bucket == BUCKET
    adapter = adapter_for(vertex_settings, chosen)
    dataset = tmp_path / "train.jsonl"
    dataset.write_text((json.dumps(GEMINI_LINE) + "\n") * 12)
    before = emulator.request_count()
    file_id = adapter.upload_dataset(dataset, "train.jsonl")
    assert file_id.startswith(f"gs://{BUCKET}/")
    created = adapter.create_job(
        JobSpec(tag="tenant-vertex", model="gemini-2.5-flash", training_file=file_id)
    )
    assert created.id
    paths = [r["path"] for r in emulator.requests()[-(emulator.request_count() - before) :]]
    assert any(f"/projects/{PROJECT}/" in path for path in paths), paths
    assert any(f"/b/{BUCKET}/" in path for path in paths), paths


def test_a_tenant_with_its_own_account_creates_vertex_jobs_on_a_server_without_one(
    client: TestClient,
    db_session: Session,
    vertex_settings: Settings,
    emulator: EmulatorHandle,
) -> None:
    owner = make_tenant(db_session)
    owner_headers = auth(make_key(db_session, owner, role=KeyRole.ADMIN))
    owner_file = make_file(db_session, vertex_settings, owner, provider="vertex").id
    other = make_tenant(db_session)  # no account of its own, and the server has none
    other_headers = auth(make_key(db_session, other))
    other_file = make_file(db_session, vertex_settings, other, provider="vertex").id
    db_session.commit()
    model = "vertex/gemini-2.5-flash"

    refused = client.post(
        "/v1/fine_tuning/jobs",
        json={"model": model, "training_file": other_file},
        headers=other_headers,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "provider_not_configured"
    stored = client.put(
        URL, json={"service_account": _account(emulator), "bucket": BUCKET}, headers=owner_headers
    )
    assert stored.status_code == 200, stored.text
    created = client.post(
        "/v1/fine_tuning/jobs",
        json={"model": model, "training_file": owner_file},
        headers=owner_headers,
    )
    assert created.status_code == 200, created.text
    assert created.json()["provider"] == "vertex"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"api_key": "AIza-not-a-service-account"}, "api_key"),
        ({"bucket": None}, "bucket"),
        ({"service_account": None}, "service_account"),
        ({"token_uri": "http://169.254.169.254/token"}, "service_account.token_uri"),
        ({"token_uri": "https://evil.example/token"}, "service_account.token_uri"),
        ({"extra_field": "x"}, "service_account.extra_field"),
        ({"type": "authorized_user"}, "service_account.type"),
    ],
)
def test_bad_vertex_credentials_are_a_400_naming_the_field(
    client: TestClient,
    db_session: Session,
    vertex_settings: Settings,
    emulator: EmulatorHandle,
    change: dict[str, Any],
    param: str,
) -> None:
    _, headers = _admin(db_session)
    account: dict[str, Any] = _account(emulator)
    body: dict[str, Any] = {"service_account": account, "bucket": BUCKET}
    for name, value in change.items():
        if name in ("api_key", "bucket", "service_account"):
            body[name] = value
        else:
            account[name] = value
    response = client.put(
        URL, json={k: v for k, v in body.items() if v is not None}, headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_service_account_is_refused_for_a_key_provider(
    client: TestClient, db_session: Session, vertex_settings: Settings, emulator: EmulatorHandle
) -> None:
    _, headers = _admin(db_session)
    response = client.put(
        "/v1/provider_credentials/together",
        json={"api_key": "tgp_v1_x", "service_account": _account(emulator)},
        headers=headers,
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "service_account"
