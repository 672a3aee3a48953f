"""Many concurrent requests against a small connection pool: every one is answered, none fails
with the pool's timeout (requests holding a connection while they wait for a worker thread used
to starve the threads waiting for a connection: a 500 after ``pool_timeout``)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from service.api.app import create_app
from service.db.database import Database
from service.db.session import make_engine, make_session_factory, session_scope
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant

CONCURRENT_REQUESTS = 60


async def _burst(database: Database, settings: Settings, key: str) -> Counter[int]:
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://tuneforge", headers=auth(key), timeout=60
    ) as client:
        responses = await asyncio.gather(
            *(client.get("/v1/fine_tuning/jobs") for _ in range(CONCURRENT_REQUESTS))
        )
    return Counter(response.status_code for response in responses)


def test_concurrent_requests_never_time_out_on_a_small_pool(
    committed_db: Database, settings: Settings
) -> None:
    with session_scope(committed_db.sessions) as session:
        key = make_key(session, make_tenant(session))
    engine = make_engine(settings.database_url, pool_size=3, max_overflow=1, pool_timeout=2)
    small = Database(engine=engine, sessions=make_session_factory(engine))
    try:
        statuses = asyncio.run(_burst(small, settings, key))
    finally:
        engine.dispose()
    assert statuses == {200: CONCURRENT_REQUESTS}
