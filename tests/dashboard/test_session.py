"""The admin session cookie and its checks, without a browser: forged, expired, cross-purpose
and revoked sessions are refused; redirects stay inside the dashboard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import stat
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.dashboard.actions import safe_next
from service.dashboard.auth import SESSION_KEY_FILE, _data_dir_secret, secret_of
from service.dashboard.session import (
    Signer,
    issue_flash,
    issue_session,
    read_session,
)
from service.settings import DEV_SECRET_KEY, Settings
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


def test_logout_ends_the_session_on_the_server(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    key = create_api_key(db_session, tenant, role=KeyRole.OPERATOR).plaintext
    db_session.commit()
    assert _login(client, key) == 303
    kept = client.cookies.get("tuneforge_admin")
    assert kept is not None
    page = client.get("/admin")
    match = re.search(
        r'action="/admin/logout">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
        page.text,
    )
    assert match is not None
    out = client.post("/admin/logout", data={"csrf_token": match.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    # a copy of the cookie taken before logout (a replay) is refused by the server
    client.cookies.set("tuneforge_admin", kept, path="/admin")
    assert client.get("/admin/api/running").status_code == 401
    # logging in again works, under the key's next generation
    assert _login(client, key) == 303
    assert client.get("/admin/api/running").status_code == 200


def _forge(secret: str, payload: dict[str, str | int]) -> str:
    """A session signed the way the dashboard signs, without its guard against the placeholder
    (what an attacker who read our source would compute)."""
    key = hashlib.sha256(f"tuneforge-admin:session:{secret}".encode()).digest()
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    return f"{b64(body)}.{b64(mac)}"


def test_the_public_placeholder_secret_signs_no_session(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    # the suite's settings leave TUNEFORGE_SECRET_KEY unset, as the embedded default does
    assert settings.secret_key.get_secret_value() == DEV_SECRET_KEY
    tenant = make_tenant(db_session)
    key = create_api_key(db_session, tenant, role=KeyRole.OPERATOR).key
    db_session.commit()
    payload: dict[str, str | int] = {
        "k": key.id,
        "t": tenant.id,
        "c": "x" * 43,
        "i": int(time.time()),
        "g": 0,
    }
    client.cookies.set("tuneforge_admin", _forge(DEV_SECRET_KEY, payload), path="/admin")
    assert client.get("/admin/api/running").status_code == 401
    with pytest.raises(ValueError, match="placeholder"):
        issue_session(DEV_SECRET_KEY, key.id, tenant.id)


def test_without_a_configured_secret_one_is_made_once_and_kept(tmp_path: Path) -> None:
    first = Settings(environment="development", data_dir=tmp_path / "a", _env_file=None)
    secret = secret_of(first)
    assert secret != DEV_SECRET_KEY and len(secret) >= 43
    path = tmp_path / "a" / SESSION_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _data_dir_secret.cache_clear()  # as a restarted process would: read back from the file
    again = Settings(environment="development", data_dir=tmp_path / "a", _env_file=None)
    assert secret_of(again) == secret
    other = Settings(environment="development", data_dir=tmp_path / "b", _env_file=None)
    assert secret_of(other) != secret
    configured = Settings(
        environment="development",
        data_dir=tmp_path / "c",
        secret_key=SecretStr("configured-secret"),
        _env_file=None,
    )
    assert secret_of(configured) == "configured-secret"
    assert not (tmp_path / "c" / SESSION_KEY_FILE).exists()


def test_production_refuses_to_start_with_the_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TUNEFORGE_SECRET_KEY"):
        Settings(environment="production", data_dir=tmp_path, _env_file=None)


def test_the_jobs_filter_takes_only_a_known_status(client: TestClient, db_session: Session) -> None:
    tenant = make_tenant(db_session)
    created = create_api_key(db_session, tenant, role=KeyRole.OPERATOR)
    db_session.commit()
    assert _login(client, created.plaintext) == 303
    assert client.get("/admin/jobs?status=paused").status_code == 200
    refused = client.get("/admin/jobs?status=done")
    assert refused.status_code == 400 and "status must be one of" in refused.text
