"""Who may see ``/admin``: a live admin API key behind a valid session cookie; and the CSRF check
every form post goes through."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form, Request, Response
from sqlalchemy.orm import Session

from service.api.deps import SessionDep, SettingsDep
from service.auth.roles import KeyRole
from service.dashboard.session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    AdminSession,
    read_session,
    tokens_match,
)
from service.db.models import ApiKey
from service.private_paths import read_or_create_secret
from service.settings import DEV_SECRET_KEY, Settings
from service.tenants.repository import TenantRepository


class LoginRequired(Exception):
    """No valid admin session: pages redirect to the login form, the JSON API answers 401."""

    def __init__(self, wants_json: bool) -> None:
        super().__init__("admin login required")
        self.wants_json = wants_json


class DashboardError(Exception):
    """A failure shown to the operator as an HTML page with this status."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Admin:
    session: AdminSession
    key: ApiKey

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


SESSION_KEY_FILE = "session.key"


def secret_of(settings: Settings) -> str:
    """What signs the dashboard's cookies: ``TUNEFORGE_SECRET_KEY`` when it is set; else a
    random secret kept in ``data_dir/session.key`` (0600), made on the first start and reused
    after, never the public placeholder (which would let anyone who knows an operator key's id
    forge a session). Production refuses to start without the setting."""
    configured = settings.secret_key.get_secret_value()
    if configured != DEV_SECRET_KEY:
        return configured
    return _data_dir_secret(settings.data_dir.resolve())


@lru_cache(maxsize=64)
def _data_dir_secret(data_dir: Path) -> str:
    return read_or_create_secret(
        data_dir / SESSION_KEY_FILE, lambda: secrets.token_urlsafe(48).encode("ascii")
    )


def usable_admin_key(session: Session, key_id: str) -> ApiKey | None:
    key = TenantRepository(session).key_by_id(key_id)
    if key is None or key.revoked_at is not None or not KeyRole(key.role).is_operator:
        return None
    return key


def current_admin(request: Request, session: SessionDep, settings: SettingsDep) -> Admin:
    admin_session = read_session(
        secret_of(settings), request.cookies.get(SESSION_COOKIE), settings.session_max_age_s
    )
    key = usable_admin_key(session, admin_session.key_id) if admin_session else None
    if admin_session is None or key is None or key.session_generation != admin_session.generation:
        raise LoginRequired(wants_json=request.url.path.startswith("/admin/api/"))
    return Admin(session=admin_session, key=key)


AdminDep = Annotated[Admin, Depends(current_admin)]


def checked_admin(admin: AdminDep, csrf_token: Annotated[str | None, Form()] = None) -> Admin:
    """The admin, for a form post that carries this session's CSRF token."""
    if not tokens_match(csrf_token, admin.csrf_token):
        raise DashboardError(
            403,
            "Request refused",
            "The form's security token is missing or out of date. Reload the page and try again.",
        )
    return admin


CheckedAdminDep = Annotated[Admin, Depends(checked_admin)]


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    """HttpOnly, SameSite=Strict, scoped to /admin; Secure whenever the request came over https
    (behind a TLS-terminating proxy, run uvicorn with ``--proxy-headers`` so the scheme is
    seen as https)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
