"""The admin session cookie and its checks, without a browser: forged, expired, cross-purpose
and revoked sessions are refused; redirects stay inside the dashboard."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.dashboard.actions import safe_next
from service.dashboard.session import (
    Signer,
    issue_flash,
    issue_session,
    read_session,
)
from service.tenants.service import create_api_key, revoke_api_key
from tests.factories import make_tenant

SECRET = "test-secret"


def test_a_session_reads_back_until_it_expires() -> None:
    token = issue_session(SECRET, "key_1", "ten_1", now=1_000)
    session = read_session(SECRET, token, max_age_s=60, now=1_030)
    assert session is not None and session.key_id == "key_1" and session.tenant_id == "ten_1"
    assert len(session.csrf_token) >= 40
    assert read_session(SECRET, token, max_age_s=60, now=1_061) is None


def test_forged_or_foreign_tokens_are_refused() -> None:
    token = issue_session(SECRET, "key_1", "ten_1", now=1_000)
    body, _, mac = token.partition(".")
    assert read_session("another-secret", token, 60, now=1_000) is None
    assert read_session(SECRET, body + "." + mac[:-2] + "AA", 60, now=1_000) is None
    forged = Signer("wrong", "session").sign({"k": "key_admin", "t": "t", "c": "c", "i": 1_000})
    assert read_session(SECRET, forged, 60, now=1_000) is None
    # A flash cookie is signed with the same secret but can never pass as a session.
    assert read_session(SECRET, issue_flash(SECRET, "hello", "ok"), 60, now=1_000) is None
    assert read_session(SECRET, "garbage", 60) is None
    assert read_session(SECRET, "", 60) is None


def test_redirect_targets_stay_inside_the_dashboard() -> None:
    assert safe_next("/admin/jobs?status=failed") == "/admin/jobs?status=failed"
    for outside in ("https://evil.example/admin", "//evil.example", "/admin\\..\\x", "/v1/files"):
        assert safe_next(outside) == "/admin"


def _login(client: TestClient, key: str) -> int:
    form = client.get("/admin/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    response = client.post(
        "/admin/login",
        data={"api_key": key, "csrf_token": match.group(1), "next": "/admin/jobs"},
        follow_redirects=False,
    )
    return response.status_code


def test_revoking_the_key_ends_its_session(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    created = create_api_key(db_session, tenant, role=KeyRole.OPERATOR)
    db_session.commit()
    assert _login(client, created.plaintext) == 303
    assert client.get("/admin/api/running").status_code == 200
    revoke_api_key(db_session, created.key.id)
    db_session.commit()
    assert client.get("/admin/api/running").status_code == 401
    page = client.get("/admin", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/admin/login?next=/admin"


def test_over_https_the_session_cookie_is_secure(app: FastAPI, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    key = create_api_key(db_session, tenant, role=KeyRole.OPERATOR).plaintext
    db_session.commit()
    with TestClient(app, base_url="https://testserver") as client:
        assert _login(client, key) == 303
        cookie = next(c for c in client.cookies.jar if c.name == "tuneforge_admin")
    assert cookie.secure and cookie.path == "/admin"
    assert cookie.has_nonstandard_attr("HttpOnly")
