"""Per-client-address rate limits kept in Redis, so they hold across every auth replica.

A fixed window per (bucket, address): the first request starts the window, each request
counts, and past ``limit`` the caller gets :class:`RateLimited` with the seconds left in the
window as ``Retry-After``. A limit of 0 turns the bucket off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from livews_auth import keyspace
from livews_auth.errors import RateLimited

# KEYS: counter. ARGV: window ms. Returns {count, ms left in the window}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


class RateLimiter:
    """``await limiter.hit("login", "203.0.113.7")`` raises RateLimited past the limit."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        limits: Mapping[str, int],
        window: int,
        on_limited: Callable[[str], None] | None = None,
    ) -> None:
        self._limits = dict(limits)
        self._window_ms = window * 1000
        self._on_limited = on_limited
        self._redis = redis
        self._hit: Any = redis.register_script(_HIT)

    async def check(self, bucket: str, client: str) -> None:
        """Raise RateLimited if ``client`` already used up ``bucket`` (counts nothing).

        For buckets that count failures only (``hit`` after each failure): a client past
        the limit is refused before it gets another try.
        """
        limit = self._limits.get(bucket, 0)
        if limit <= 0:
            return
        key = keyspace.rate_key(bucket, client)
        count = await self._redis.get(key)
        if count is not None and int(count) >= limit:
            left_ms = int(await self._redis.pttl(key))
            if self._on_limited is not None:
                self._on_limited(bucket)
            raise RateLimited(math.ceil(max(left_ms, 1000) / 1000))

    async def hit(self, bucket: str, client: str) -> None:
        limit = self._limits.get(bucket, 0)
        if limit <= 0:
            return
        count, left_ms = await self._hit(
            keys=[keyspace.rate_key(bucket, client)], args=[self._window_ms]
        )
        if int(count) > limit:
            if self._on_limited is not None:
                self._on_limited(bucket)
            raise RateLimited(math.ceil(int(left_ms) / 1000))
