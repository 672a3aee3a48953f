"""Request dependencies: the transaction boundary and the authenticated caller.

Routes take ``SessionDep`` and ``CallerDep``; the session commits after the route function
returns and before the response is sent (so a client never sees an id that was rolled back),
then runs the after-commit callbacks (the outbox relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session

from service.db.database import Database
from service.db.session import committing, session_slots
from service.errors import Forbidden, Unauthorized
from service.settings import Settings
from service.tenants.service import authenticate


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database_dep(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _slots(app: FastAPI) -> anyio.Semaphore | None:
    if not hasattr(app.state, "session_slots"):
        database: Database = app.state.database
        limit = session_slots(database.engine)
        app.state.session_slots = None if limit is None else anyio.Semaphore(limit)
    slots: anyio.Semaphore | None = app.state.session_slots
    return slots


async def _session_slot(request: Request) -> AsyncIterator[None]:
    """Wait on the event loop, holding no thread and no connection, until a session may open.
    Without this cap, requests that hold a connection while they wait for a worker thread and
    threads that wait for a connection starve each other until the pool times out (a 500)."""
    slots = _slots(request.app)
    if slots is None:
        yield
        return
    async with slots:
        yield


def get_session(
    request: Request, _slot: Annotated[None, Depends(_session_slot, scope="function")]
) -> Iterator[Session]:
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
