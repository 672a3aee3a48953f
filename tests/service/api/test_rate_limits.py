"""Per-tenant request rate limits: a burst over the limit gets 429 with ``Retry-After`` and
OpenAI's ``x-ratelimit-*-requests`` headers while another tenant is unaffected; with Redis
every API process shares one count."""

from __future__ import annotations

import asyncio
import secrets
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy.orm import Session

from service.api.rate_limit import storage_uri
from service.api.rate_window import RedisWindows
from service.settings import Settings
from tests.backends import REDIS_URL
from tests.factories import auth, make_key, make_tenant


def _keys(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    first = auth(make_key(session, make_tenant(session)))
    second = auth(make_key(session, make_tenant(session)))
    session.commit()
    return first, second


def test_a_burst_over_the_limit_is_429_and_another_tenant_is_unaffected(
    app: FastAPI, db_session: Session, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"rate_limit": "5/minute"})
    noisy, quiet = _keys(db_session)
    with TestClient(app) as client:
        remaining = []
        for _ in range(5):
            response = client.get("/v1/files", headers=noisy)
            assert response.status_code == 200, response.text
            assert response.headers["x-ratelimit-limit-requests"] == "5"
            assert response.headers["x-ratelimit-reset-requests"].endswith("s")
            remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
        assert remaining == [4, 3, 2, 1, 0]

        refused = client.get("/v1/files", headers=noisy)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")

        other = client.get("/v1/files", headers=quiet)
        assert other.status_code == 200
        assert other.headers["x-ratelimit-remaining-requests"] == "4"


def test_api_processes_share_one_count_through_redis(
    settings: Settings, db_session: Session, app: FastAPI
) -> None:
    shared = settings.model_copy(
        update={
            "rate_limit": "3/minute",
            "rate_limit_storage_url": REDIS_URL,
            "broker_key_prefix": f"tf_test_{secrets.token_hex(4)}:",
        }
    )
    assert storage_uri(shared).startswith("async+redis://")
    noisy, _ = _keys(db_session)
    app.state.settings = shared
    with TestClient(app) as first:
        assert [first.get("/v1/files", headers=noisy).status_code for _ in range(2)] == [200] * 2
    # A second client has its own event loop and limiter, as a second API process would.
    with TestClient(app) as second:
        assert second.get("/v1/files", headers=noisy).status_code == 200
        assert second.get("/v1/files", headers=noisy).status_code == 429


def test_the_embedded_default_counts_in_memory(settings: Settings) -> None:
    embedded = settings.model_copy(
        update={"broker_url": "sqla+sqlite:////tmp/broker.sqlite", "rate_limit_storage_url": ""}
    )
    assert storage_uri(embedded) == "async+memory://"


def test_an_unreachable_limiter_lets_requests_through(
    settings: Settings, db_session: Session, app: FastAPI
) -> None:
    app.state.settings = settings.model_copy(
        update={"rate_limit": "1/minute", "rate_limit_storage_url": "redis://127.0.0.1:1/0"}
    )
    noisy, _ = _keys(db_session)
    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/v1/files", headers=noisy)
            assert response.status_code == 200, response.text
            assert "x-ratelimit-remaining-requests" not in response.headers


def test_the_one_round_trip_window_keeps_the_limits_librarys_layout() -> None:
    """What ``rate_window`` counts in one script, ``limits``' own moving window reads back (and
    the reverse): the same keys and list layout, so the two agree on every request counted."""
    prefix = f"tf_test_{secrets.token_hex(4)}:ratelimit"
    rate = parse_many("4/minute")[0]
    ours = RedisWindows(REDIS_URL, prefix, 2)
    theirs = MovingWindowRateLimiter(
        storage_from_string(f"async+{REDIS_URL}", implementation="redispy", key_prefix=prefix)
    )

    async def scenario() -> list[tuple[bool, int]]:
        seen = []
        for _ in range(3):
            [count] = await ours.hit([rate], "tenant", "t1")
            seen.append((count.acquired, count.count))
        stats = await theirs.get_window_stats(rate, "tenant", "t1")
        assert stats.remaining == 1
        assert await theirs.hit(rate, "tenant", "t1")  # the fourth, counted by limits
        for _ in range(2):
            [count] = await ours.hit([rate], "tenant", "t1")
            seen.append((count.acquired, count.count))
            assert count.reset_at > time.time()
        return seen

    assert asyncio.run(scenario()) == [(True, 1), (True, 2), (True, 3), (False, 4), (False, 4)]
