"""The test harness itself: a private, real Redis per session, isolated per test."""

from __future__ import annotations

import redis.asyncio as aioredis

from livews_devtools.redis_server import RedisServer


async def test_redis_client_is_real_and_starts_empty(redis_client: aioredis.Redis) -> None:
    assert await redis_client.dbsize() == 0
    await redis_client.set("k", "v")
    info = await redis_client.info("server")
    assert info["redis_version"].split(".")[0] >= "6"


async def test_each_test_gets_a_fresh_database(redis_client: aioredis.Redis) -> None:
    assert await redis_client.get("k") is None


def test_private_server_restarts_on_the_same_port() -> None:
    import redis

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.set("x", "1")
        server.restart()
        assert client.ping() and client.get("x") is None  # nothing kept on disk
        client.close()
    assert not server.running
