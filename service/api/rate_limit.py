"""Per-tenant request rate limits with the ``limits`` library: a moving window per rate in
``TUNEFORGE_RATE_LIMIT``, counted in Redis when the deployment has one (so every API process
shares one count: one round trip per request, ``rate_window``) and in the process's memory on
the embedded default. Every authenticated response says where the tenant stands in OpenAI's
``x-ratelimit-*-requests`` headers; a request over the limit is a 429 with ``Retry-After``."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from service.api.rate_window import Count, RedisWindows, WindowUnavailable
from service.errors import RateLimited
from service.settings import Settings

KEY_PREFIX = "tuneforge:ratelimit"
REDIS_CONNECTIONS = 64  # per API process

log = logging.getLogger(__name__)


def storage_uri(settings: Settings) -> str:
    """``rate_limit_storage_url`` if set; else the broker's Redis; else this process's memory."""
    url = settings.rate_limit_storage_url or settings.broker_url
    for scheme in ("redis://", "rediss://", "redis+sentinel://", "memory://"):
        if url.startswith(scheme):
            return f"async+{url}"
    if url.startswith("async+"):
        return url
    return "async+memory://"


@dataclass(frozen=True)
class Standing:
    limit: int
    remaining: int
    reset_s: float

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": f"{self.reset_s:.3g}s",
        }


class TenantRateLimiter:
    """Redis (``rate_window``: one round trip per request) when the deployment has one, else
    ``limits``' moving window in this process's memory."""

    def __init__(self, settings: Settings) -> None:
        uri = storage_uri(settings)
        self._rates: list[RateLimitItem] = parse_many(settings.rate_limit)
        self._redis: RedisWindows | None = None
        self._limiter: MovingWindowRateLimiter | None = None
        if uri.startswith("async+redis://") or uri.startswith("async+rediss://"):
            self._redis = RedisWindows(
                uri.removeprefix("async+"),
                f"{settings.broker_key_prefix}{KEY_PREFIX}",
                REDIS_CONNECTIONS,
            )
        else:
            options: dict[str, Any] = {"wrap_exceptions": True}
            if "redis" in uri:  # sentinel
                options |= {
                    "implementation": "redispy",
                    "key_prefix": f"{settings.broker_key_prefix}{KEY_PREFIX}",
                }
            self._limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))

    async def hit(self, tenant_id: str) -> Standing | None:
        """Count one request; raises ``RateLimited`` (with the headers) when over a rate. None
        when the count cannot be kept (Redis unreachable): the request goes through, since a
        limiter outage must not become an API outage."""
        try:
            return await self._hit(tenant_id)
        except (StorageError, WindowUnavailable):
            log.warning("rate limit storage unavailable; request let through", exc_info=True)
            return None

    async def _counts(self, tenant_id: str) -> list[Count]:
        if self._redis is not None:
            return await self._redis.hit(self._rates, "tenant", tenant_id)
        assert self._limiter is not None
        counts = []
        for rate in self._rates:
            allowed = await self._limiter.hit(rate, "tenant", tenant_id)
            stats = await self._limiter.get_window_stats(rate, "tenant", tenant_id)
            used = rate.amount - stats.remaining
            counts.append(Count(rate, allowed, used, stats.reset_time))
        return counts

    async def _hit(self, tenant_id: str) -> Standing:
        standings: list[Standing] = []
        refused: Standing | None = None
        now = time.time()
        for count in await self._counts(tenant_id):
            remaining = max(count.rate.amount - count.count, 0)
            standing = Standing(count.rate.amount, remaining, max(count.reset_at - now, 0.0))
            standings.append(standing)
            if not count.acquired and refused is None:
                refused = standing
        if refused is not None:
            error = RateLimited(
                f"Rate limit reached: {refused.limit} requests per window for this tenant. "
                f"Try again in {math.ceil(refused.reset_s)} s.",
            )
            error.headers = {
                **refused.headers(),
                "Retry-After": str(max(1, math.ceil(refused.reset_s))),
            }
            raise error
        return min(standings, key=lambda s: (s.remaining, -s.reset_s))


def limiter_of(app: FastAPI) -> TenantRateLimiter:
    """One limiter per app and event loop (an async Redis client belongs to the loop that
    created it)."""
    loop = asyncio.get_running_loop()
    found: tuple[asyncio.AbstractEventLoop, TenantRateLimiter] | None = getattr(
        app.state, "rate_limiter", None
    )
    if found is None or found[0] is not loop:
        found = (loop, TenantRateLimiter(app.state.settings))
        app.state.rate_limiter = found
    return found[1]
