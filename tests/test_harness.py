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


def test_free_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    import socket

    from livews_devtools.ports import _ephemeral_range, free_port

    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(not low <= port <= high for port in ports)
    # So the port the kernel gives an outgoing connection is never one of them.
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as conn:
            assert conn.getsockname()[1] not in ports
