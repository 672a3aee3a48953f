"""The moving window of ``limits`` in one Redis round trip per request: a Lua script counts the
request under every rate and answers where the tenant stands (the count in each window and its
oldest entry), where ``limits`` needs two calls per rate (``hit``, then ``get_window_stats``
for the headers). Same data layout as ``limits``' moving window (a list of timestamps per key,
newest first, trimmed to the limit), so the two read each other's counts.

The profile of ``GET /v1/fine_tuning/jobs/{id}`` showed the two calls per request as a sixth
of the API process's CPU."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

ACQUIRE_AND_COUNT = """
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local expiry = tonumber(ARGV[2 * i + 1])
  local acquired = 0
  local last = redis.call('lindex', key, limit - 1)
  if not (last and tonumber(last) >= now - expiry) then
    redis.call('lpush', key, ARGV[1])
    redis.call('ltrim', key, 0, limit - 1)
    redis.call('expire', key, expiry)
    acquired = 1
  end
  local low, high, found = 0, redis.call('llen', key) - 1, -1
  while low <= high do
    local mid = math.floor((low + high) / 2)
    local value = tonumber(redis.call('lindex', key, mid))
    if value and value >= now - expiry then
      found = mid
      low = mid + 1
    else
      high = mid - 1
    end
  end
  local oldest = ARGV[1]
  if found >= 0 then
    oldest = redis.call('lindex', key, found)
  end
  table.insert(out, acquired)
  table.insert(out, found + 1)
  table.insert(out, oldest)
end
return out
"""


class WindowUnavailable(Exception):
    """Redis could not be reached or answered an error: the caller lets the request through."""


@dataclass(frozen=True)
class Count:
    rate: RateLimitItem
    acquired: bool
    count: int
    reset_at: float  # wall time the oldest request in the window leaves it


class RedisWindows:
    def __init__(self, url: str, key_prefix: str, max_connections: int) -> None:
        # Requests wait for a free connection instead of failing when all are busy.
        pool: BlockingConnectionPool[Any] = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=5
        )
        self._redis = Redis(connection_pool=pool)
        self._script = self._redis.register_script(ACQUIRE_AND_COUNT)
        self._prefix = key_prefix

    async def hit(self, rates: list[RateLimitItem], *identifiers: str) -> list[Count]:
        now = time.time()
        keys = [f"{self._prefix}:{rate.key_for(*identifiers)}" for rate in rates]
        args: list[Any] = [repr(now)]
        for rate in rates:
            args += [rate.amount, rate.get_expiry()]
        try:
            answer = await self._script(keys=keys, args=args)
        except RedisError as exc:
            raise WindowUnavailable(str(exc)) from exc
        counts = []
        for n, rate in enumerate(rates):
            acquired, count, oldest = answer[3 * n : 3 * n + 3]
            reset_at = float(oldest) + rate.get_expiry()
            counts.append(Count(rate, bool(acquired), int(count), reset_at))
        return counts
