"""The Redis implementation of :class:`~livews_gateway.store.Store` (contract in ``store.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from livews_common import names, redisconn
from livews_gateway.clients import Mode
from livews_gateway.store import StoreUnavailable

T = TypeVar("T")


class RedisStore:
    """One small connection pool with short timeouts and no hidden retries."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self._redis = redisconn.connect(
            url, retry=Retry(NoBackoff(), 0), socket_timeout=timeout,
            socket_connect_timeout=timeout, max_connections=32,
        )  # fmt: skip

    @property
    def redis(self) -> aioredis.Redis:
        """The client, for the per-user quotas (quotas.py), which run their own scripts."""
        return self._redis

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from None

    async def latest(self, mode: Mode, symbols: Sequence[str]) -> list[bytes | None]:
        if not symbols:
            return []
        key = names.LAST_TICKS if mode == "quote" else names.LAST_DEPTH
        values: list[Any] = await self._call(self._redis.hmget(key, list(symbols)))
        return values

    async def bars(self, symbols: Sequence[str], *, last: bool = False) -> list[list[bytes]]:
        if not symbols:
            return []
        pipe = self._redis.pipeline(transaction=False)
        first = -1 if last else 0
        for symbol in symbols:
            pipe.lrange(names.bars_key(symbol), first, -1)
        values: list[Any] = await self._call(pipe.execute())
        return values

    async def verdicts(self, symbols: Sequence[str]) -> list[bytes | None]:
        if not symbols:
            return []
        negative_keys = [names.negative_verdict_key(s) for s in symbols]
        positive: list[Any]
        negative: list[Any]
        if redisconn.is_cluster(self._redis):  # the keys are spread over slots
            positive, negative = await self._call(asyncio.gather(
                self._redis.hmget(names.SYMBOL_VERDICTS, list(symbols)),
                redisconn.mget(self._redis, negative_keys),
            ))  # fmt: skip
        else:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(names.SYMBOL_VERDICTS, list(symbols))
            pipe.mget(negative_keys)
            positive, negative = await self._call(pipe.execute())
        # A symbol has one or the other; if both (a race between writes), "no" wins.
        return [n if n is not None else p for p, n in zip(positive, negative, strict=True)]

    async def status(self) -> bytes | None:
        value: Any = await self._call(self._redis.get(names.STATUS))
        return value.encode() if isinstance(value, str) else value

    async def is_revoked(self, session: str) -> bool:
        count: int = await self._call(
            self._redis.exists(
                names.revoked_session_key(session, redisconn.is_cluster(self._redis))
            )
        )
        return count > 0

    async def announce(self, instance: str, record: bytes, ttl: float) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(names.demand_key(instance), record, px=max(1, int(ttl * 1000)))
        await self._demand_changed(pipe, instance)

    async def withdraw(self, instance: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(names.demand_key(instance))
        await self._demand_changed(pipe, instance)

    async def _demand_changed(self, pipe: Any, instance: str) -> None:
        """Run ``pipe`` (the demand write), then tell the ingestor: in the same round-trip on
        one Redis; after it on a Cluster, where the key and the notice go to different nodes
        (and redis-py's cluster pipeline has no publish)."""
        if redisconn.is_cluster(self._redis):
            await self._call(pipe.execute())
            await self._call(self._redis.publish(names.DEMAND_CHANGED, instance))
            return
        pipe.publish(names.DEMAND_CHANGED, instance)
        await self._call(pipe.execute())

    async def ping(self) -> None:
        await self._call(self._redis.ping())
