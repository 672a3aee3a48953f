"""Request dependencies: the transaction boundary and the authenticated caller.

Routes take ``SessionDep`` and ``CallerDep``; the session commits after the route function
returns and before the response is sent (so a client never sees an id that was rolled back),
then runs the after-commit callbacks (the outbox relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.types import Scope

from service.api.key_cache import KeyCache
from service.api.rate_limit import limiter_of
from service.auth.keys import hash_key
from service.auth.roles import KeyRole
from service.db.database import Database
from service.db.session import (
    READ_ONLY,
    committing,
    end_transaction,
    session_slots,
    single_writer,
)
from service.errors import Forbidden, Unauthorized
from service.settings import Settings
from service.tenants.service import find_active_key, key_use_is_stale, record_key_use


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


def _writer_slot(app: FastAPI) -> anyio.Lock | None:
    """On SQLite one write transaction runs at a time whatever we do; requests that may write
    wait for their turn here, in the event loop, rather than in worker threads blocked on the
    database lock (enough of those and the lock's holder finds no thread to commit in: every
    waiter then fails with "database is locked")."""
    if not hasattr(app.state, "writer_slot"):
        database: Database = app.state.database
        app.state.writer_slot = anyio.Lock() if single_writer(database.engine) else None
    slot: anyio.Lock | None = app.state.writer_slot
    return slot


_READ_METHODS = frozenset({"GET", "HEAD"})


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[Session]:
    """The request's transaction boundary, for a route that must open it late (an upload opens
    it once the body has streamed, so no transaction waits on a slow client). A GET or HEAD
    only reads: on SQLite its transaction takes no write lock."""
    read_only = request.method in _READ_METHODS
    async with AsyncExitStack() as stack:
        writer = None if read_only else _writer_slot(request.app)
        if writer is not None:
            await stack.enter_async_context(writer)
        slots = _slots(request.app)
        if slots is not None:
            await stack.enter_async_context(slots)
        session = open_session(request.app, read_only=read_only)
        try:
            yield session
        except BaseException:
            await _end(session, succeeded=False)
            raise
        await _end(session, succeeded=True)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Async so that opening the session costs no worker thread; the commit (or rollback) runs
    in one. The number of open sessions is capped below the pool size: a request keeps its
    connection between dependencies and its route while it waits for a worker thread, so
    without the cap such requests and threads waiting for a connection starve each other until
    the pool times out (a 500)."""
    async with request_session(request) as session:
        yield session


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
    role: KeyRole

    @property
    def is_operator(self) -> bool:
        return self.role.is_operator


def _bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized(
            "You didn't provide an API key. Provide it in an Authorization header "
            "(Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Malformed Authorization header: expected 'Bearer YOUR_KEY'.")
    return token.strip()


def _key_cache(app: FastAPI) -> KeyCache[Caller]:
    if not hasattr(app.state, "key_cache"):
        app.state.key_cache = KeyCache[Caller]()
    cache: KeyCache[Caller] = app.state.key_cache
    return cache


def open_session(app: FastAPI, *, read_only: bool = False) -> Session:
    """A new session of the app's database (tests point ``state.session_factory`` at their
    rolled-back connection)."""
    factory: Callable[[], Session] | None = getattr(app.state, "session_factory", None)
    if factory is not None:
        return factory()
    database: Database = app.state.database
    return database.sessions(execution_options=READ_ONLY if read_only else None)


def _lookup_key(app: FastAPI, token: str) -> Caller | None:
    with committing(open_session(app, read_only=True)) as session:
        key = find_active_key(session, token)
        if key is None:
            return None
        caller = Caller(tenant_id=key.tenant_id, key_id=key.id, role=KeyRole(key.role))
        stale = key_use_is_stale(key)
    if stale:
        with committing(open_session(app)) as session:
            record_key_use(session, caller.key_id)
    return caller


async def authenticate_scope(scope: Scope) -> None:
    """The request guard's authenticator, run before the body is read: the caller of a recently
    seen key comes from memory (see ``key_cache`` for how soon a revocation takes effect);
    otherwise the key is looked up in a transaction of its own, short and separate from the
    request's, so no lock is held while a body streams."""
    app: FastAPI = scope["app"]
    header = ""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            header = value.decode("latin-1")
            break
    token = _bearer_token(header)
    digest = hash_key(token)
    cache = _key_cache(app)
    caller = cache.get(digest)
    if caller is None:
        caller = await anyio.to_thread.run_sync(_lookup_key, app, token)
        if caller is None:
            raise Unauthorized("Incorrect API key provided.")
        cache.put(digest, caller)
    scope.setdefault("state", {})["caller"] = caller


# Declares the bearer scheme in /openapi.json ("Authorize" in /docs); the header is read and
# refused with OpenAI's error body by the request guard, so this never answers by itself.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer YOUR_API_KEY")


async def get_caller(
    request: Request,
    response: Response,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> Caller:
    """The authenticated caller, counted against its tenant's request rate (429 over it)."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    if caller is None:  # a route outside /v1 that asks for a caller
        await authenticate_scope(request.scope)
        caller = request.scope["state"]["caller"]
    standing = await limiter_of(request.app).hit(caller.tenant_id)
    if standing is not None:
        response.headers.update(standing.headers())
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def require_operator(caller: CallerDep) -> Caller:
    if not caller.role.is_operator:
        raise Forbidden(
            "This action needs an operator API key (tuneforge keys create --operator).",
            code="operator_required",
        )
    return caller


async def require_tenant_admin(caller: CallerDep) -> Caller:
    if not caller.role.is_tenant_admin:
        raise Forbidden(
            "This action needs a tenant admin API key (tuneforge keys create --admin).",
            code="admin_required",
        )
    return caller


OperatorDep = Annotated[Caller, Depends(require_operator)]
TenantAdminDep = Annotated[Caller, Depends(require_tenant_admin)]
