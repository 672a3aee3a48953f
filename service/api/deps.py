"""Request dependencies: the transaction boundary and the authenticated caller.

Routes take ``SessionDep`` and ``CallerDep``; the session commits after the route function
returns and before the response is sent (so a client never sees an id that was rolled back),
then runs the after-commit callbacks (the outbox relay)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.db.database import Database
from service.db.session import committing
from service.errors import Forbidden, Unauthorized
from service.settings import Settings
from service.tenants.service import authenticate


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database_dep(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with committing(database.sessions()) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    key_id: str
    is_admin: bool


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized(
            "You didn't provide an API key. Provide it in an Authorization header "
            "(Authorization: Bearer YOUR_KEY).",
            code=None,
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Malformed Authorization header: expected 'Bearer YOUR_KEY'.")
    return token.strip()


def get_caller(request: Request, session: SessionDep) -> Caller:
    token = _bearer_token(request)
    key = authenticate(session, token)
    if key is None:
        raise Unauthorized("Incorrect API key provided.")
    return Caller(tenant_id=key.tenant_id, key_id=key.id, is_admin=key.is_admin)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_admin(caller: CallerDep) -> Caller:
    if not caller.is_admin:
        raise Forbidden("This action needs an admin API key.", code="admin_required")
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]
