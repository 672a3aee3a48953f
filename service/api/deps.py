"""Request dependencies: the transaction boundary and the authenticated caller.

Routes take ``SessionDep`` and ``CallerDep``; the session commits after the route function
returns and before the response is sent (so a client never sees an id that was rolled back),
then runs the after-commit callbacks (the outbox relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session

from service.api.key_cache import KeyCache
from service.auth.keys import hash_key
from service.db.database import Database
from service.db.session import end_transaction, session_slots
from service.errors import Forbidden, Unauthorized
from service.settings import Settings
from service.tenants.service import authenticate


# Dependencies that do no I/O are async: FastAPI runs a plain ``def`` one in a worker thread.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database_dep(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _slots(app: FastAPI) -> anyio.Semaphore | None:
    if not hasattr(app.state, "session_slots"):
        database: Database = app.state.database
        limit = session_slots(database.engine)
        app.state.session_slots = None if limit is None else anyio.Semaphore(limit)
    slots: anyio.Semaphore | None = app.state.session_slots
    return slots


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Async so that opening the session costs no worker thread; the commit (or rollback) runs
    in one. The number of open sessions is capped below the pool size: a request keeps its
    connection between dependencies and its route while it waits for a worker thread, so
    without the cap such requests and threads waiting for a connection starve each other until
    the pool times out (a 500)."""
    database: Database = request.app.state.database
    async with AsyncExitStack() as stack:
        slots = _slots(request.app)
        if slots is not None:
            await stack.enter_async_context(slots)
        session = database.sessions()
        try:
            yield session
        except BaseException:
            await _end(session, succeeded=False)
            raise
        await _end(session, succeeded=True)


async def _end(session: Session, *, succeeded: bool) -> None:
    # Shielded: a client that disconnects must not leave the session (and its connection) open.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(end_transaction, session, succeeded=succeeded))


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


def _key_cache(app: FastAPI) -> KeyCache[Caller]:
    if not hasattr(app.state, "key_cache"):
        app.state.key_cache = KeyCache[Caller]()
    cache: KeyCache[Caller] = app.state.key_cache
    return cache


async def get_caller(request: Request, session: SessionDep) -> Caller:
    """The caller of a recently seen key comes from memory (see ``key_cache`` for how soon a
    revocation takes effect); otherwise the key is looked up in a worker thread."""
    token = _bearer_token(request)
    digest = hash_key(token)
    cache = _key_cache(request.app)
    caller = cache.get(digest)
    if caller is not None:
        return caller
    key = await anyio.to_thread.run_sync(authenticate, session, token)
    if key is None:
        raise Unauthorized("Incorrect API key provided.")
    caller = Caller(tenant_id=key.tenant_id, key_id=key.id, is_admin=key.is_admin)
    cache.put(digest, caller)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def require_admin(caller: CallerDep) -> Caller:
    if not caller.is_admin:
        raise Forbidden("This action needs an admin API key.", code="admin_required")
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]
