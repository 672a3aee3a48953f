"""The API shell: health, auth, and OpenAI-style errors for every kind of bad request."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.api.app import create_app
from service.auth.roles import KeyRole
from service.db.database import Database
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant


def _assert_error(response_json: dict[str, object]) -> dict[str, object]:
    error = response_json["error"]
    assert isinstance(error, dict)
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["message"]
    return error


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["ok"] is True
    assert ready.json()["checks"]["broker"]["ok"] is True


def test_readiness_fails_when_broker_is_unreachable(settings: Settings, database: Database) -> None:
    broken = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(broken, database)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_unknown_route_and_wrong_method(client: TestClient, db_session: Session) -> None:
    key = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    response = client.get("/v1/nothing-here", headers=auth(key))
    assert response.status_code == 404
    assert _assert_error(response.json())["code"] == "not_found"
    # Without a key nothing under /v1 is answered but the 401: no probing which routes exist.
    assert client.get("/v1/nothing-here").status_code == 401
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    _assert_error(response.json())


def test_missing_malformed_and_wrong_keys_are_401(client: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        auth("tf_not-a-real-key"),
    ):
        response = client.get("/v1/tenant", headers=headers)
        assert response.status_code == 401, headers
        assert _assert_error(response.json())["type"] == "invalid_request_error"
        assert "Traceback" not in response.text


def test_key_identifies_its_tenant(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session, "acme")
    key = make_key(db_session, tenant)
    db_session.commit()
    body = client.get("/v1/tenant", headers=auth(key)).json()
    assert body["id"] == tenant.id and body["name"] == "acme"
    assert body["api_key"]["is_admin"] is False and body["api_key"]["role"] == "member"


def test_admin_routes_need_an_operator_key(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    user_key = make_key(db_session, tenant)
    tenant_admin_key = make_key(db_session, tenant, role=KeyRole.ADMIN)
    operator_key = make_key(db_session, tenant, role=KeyRole.OPERATOR)
    db_session.commit()
    url = f"/v1/admin/tenants/{tenant.id}/budget"
    refused = client.put(url, json={"monthly_limit": "10"}, headers=auth(user_key))
    assert refused.status_code == 403
    # A tenant admin administers its own tenant's keys, not the operator's money.
    not_operator = client.put(url, json={"monthly_limit": "10"}, headers=auth(tenant_admin_key))
    assert not_operator.status_code == 403
    assert not_operator.json()["error"]["code"] == "operator_required"
    assert client.get("/v1/admin/tenants", headers=auth(tenant_admin_key)).status_code == 403
    ok = client.put(url, json={"monthly_limit": "125.50"}, headers=auth(operator_key))
    assert ok.status_code == 200, ok.text
    assert ok.json()["monthly_budget"] == {"amount": "125.500000", "currency": "USD"}


def test_bad_bodies_get_400_with_the_param(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant, role=KeyRole.OPERATOR)
    db_session.commit()
    url = f"/v1/admin/tenants/{tenant.id}/budget"
    headers = {**auth(key), "Content-Type": "application/json"}

    malformed = client.put(url, content=b"{not json", headers=headers)
    assert malformed.status_code == 400
    assert "JSON" in str(_assert_error(malformed.json())["message"])

    wrong_type = client.put(url, json={"monthly_limit": "lots"}, headers=headers)
    assert wrong_type.status_code == 400
    assert _assert_error(wrong_type.json())["param"] == "monthly_limit"

    missing = client.put(url, json={}, headers=headers)
    assert missing.status_code == 400
    assert _assert_error(missing.json())["param"] == "monthly_limit"

    negative = client.put(url, json={"monthly_limit": -1}, headers=headers)
    assert negative.status_code == 400

    unknown = client.put(
        "/v1/admin/tenants/ten_nope/budget", json={"monthly_limit": 1}, headers=headers
    )
    assert unknown.status_code == 404
