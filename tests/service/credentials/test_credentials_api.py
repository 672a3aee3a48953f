"""``/v1/provider_credentials``: a tenant's own provider key goes in once, is stored encrypted,
never comes back out (last four characters only), and wins over the operator's key."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.credentials.service import (
    CredentialsMissing,
    CredentialSource,
    credentials_for,
)
from service.encryption.keyring import keyring_for
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

URL = "/v1/provider_credentials"
TOGETHER_KEY = "tgp_v1_tenant-own-key-7f3a"


def _admin(session: Session) -> tuple[str, dict[str, str]]:
    tenant = make_tenant(session)
    key = make_key(session, tenant, role=KeyRole.ADMIN)
    session.commit()
    return tenant.id, auth(key)


def test_a_stored_key_is_ciphertext_and_only_its_last_four_come_back(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant_id, headers = _admin(db_session)
    put = client.put(f"{URL}/together", json={"api_key": TOGETHER_KEY}, headers=headers)
    assert put.status_code == 200, put.text
    assert put.json()["api_key_last4"] == "7f3a"
    got = client.get(f"{URL}/together", headers=headers)
    listed = client.get(URL, headers=headers)
    for response in (put, got, listed):
        assert TOGETHER_KEY not in response.text
    assert [c["provider"] for c in listed.json()["data"]] == ["together"]

    stored = db_session.execute(
        text("SELECT api_key_encrypted FROM provider_credentials WHERE tenant_id = :t"),
        {"t": tenant_id},
    ).scalar_one()
    assert TOGETHER_KEY not in stored and stored.startswith("gAAAAA")
    assert keyring_for(settings).decrypt(stored) == TOGETHER_KEY

    chosen = credentials_for(db_session, settings, tenant_id, "together")
    assert chosen.source is CredentialSource.TENANT and chosen.api_key == TOGETHER_KEY

    assert client.delete(f"{URL}/together", headers=headers).json()["deleted"] is True
    assert client.get(f"{URL}/together", headers=headers).status_code == 404
    fallback = credentials_for(db_session, settings, tenant_id, "together")
    assert fallback.source is CredentialSource.OPERATOR


def test_only_a_tenant_admin_may_store_or_delete_keys(
    client: TestClient, db_session: Session
) -> None:
    tenant = make_tenant(db_session)
    member = auth(make_key(db_session, tenant))
    db_session.commit()
    refused = client.put(f"{URL}/openai", json={"api_key": "sk-abcdef"}, headers=member)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    assert client.delete(f"{URL}/openai", headers=member).status_code == 403
    assert client.get(URL, headers=member).json()["data"] == []


def test_bad_credentials_bodies_are_400_naming_the_field(
    client: TestClient, db_session: Session
) -> None:
    _, headers = _admin(db_session)
    cases = [
        ("nosuch", {"api_key": "k"}, "provider"),
        ("together", {"api_key": ""}, "api_key"),
        ("together", {"api_key": "has space"}, "api_key"),
        ("together", {"api_key": "x" * 1025}, "api_key"),
        ("mistral", {"api_key": "k", "project": "p"}, "project"),
        ("together", {"api_key": "k", "secret": "s"}, "secret"),
        ("fireworks", {"api_key": "fw_key"}, "account_id"),
        ("openai", {"api_key": "sk-1", "account_id": "a"}, "account_id"),
    ]
    for provider, body, param in cases:
        response = client.put(f"{URL}/{provider}", json=body, headers=headers)
        assert response.status_code == 400, (provider, body, response.text)
        assert response.json()["error"]["param"] == param, (provider, body, response.text)
    ok = client.put(
        f"{URL}/openai",
        json={"api_key": "sk-1234", "organization": "org-1", "project": "proj_1"},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.json()["project"] == "proj_1"
    # Together's project: where a tuned model's dedicated endpoint is created
    ok = client.put(
        f"{URL}/together", json={"api_key": "tg-1234", "project": "proj-2"}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["project"] == "proj-2"


def test_without_fallback_a_tenant_needs_its_own_key_to_create_a_job(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    member = auth(make_key(db_session, tenant))
    tenant_admin = auth(make_key(db_session, tenant, role=KeyRole.ADMIN))
    operator = auth(make_key(db_session, make_tenant(db_session), role=KeyRole.OPERATOR))
    file = make_file(db_session, settings, tenant)
    db_session.commit()
    body = {"model": "gpt-4o-mini-2024-07-18", "training_file": file.id}

    patch = {"operator_credentials_fallback": False}
    admin_url = f"/v1/admin/tenants/{tenant.id}"
    assert client.patch(admin_url, json=patch, headers=tenant_admin).status_code == 403
    turned_off = client.patch(admin_url, json=patch, headers=operator)
    assert turned_off.status_code == 200, turned_off.text
    assert turned_off.json()["operator_credentials_fallback"] is False

    refused = client.post("/v1/fine_tuning/jobs", json=body, headers=member)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("provider_credentials_required", "provider")
    db_session.expire_all()  # the API changed the tenant in its own session
    try:
        credentials_for(db_session, settings, tenant.id, "openai")
    except CredentialsMissing as exc:
        assert exc.code == "provider_credentials_required"
    else:
        raise AssertionError("credentials_for fell back on the operator's key")

    client.put(f"{URL}/openai", json={"api_key": "sk-tenant-own"}, headers=tenant_admin)
    created = client.post("/v1/fine_tuning/jobs", json=body, headers=member)
    assert created.status_code == 200, created.text
