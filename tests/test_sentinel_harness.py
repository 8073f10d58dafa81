"""The Sentinel harness itself: a real primary, two replicas and three Sentinels that fail over.

And what the services rely on in it: a client from ``redisconn.connect`` follows the primary
after a crash (SIGKILL) and after a graceful failover (where the old primary lives on as a
replica and a write on a connection still open to it would answer READONLY).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from livews_common import redisconn
from livews_devtools.redis_sentinel import SERVICE, RedisSentinelServer


@pytest.fixture
def sentinel() -> Iterator[RedisSentinelServer]:
    with RedisSentinelServer() as server:
        yield server


def test_topology_url_users_and_replication(sentinel: RedisSentinelServer) -> None:
    target = redisconn.parse(sentinel.url)
    assert target.kind == "sentinel" and target.service == SERVICE
    assert [port for _, port in target.nodes] == [s.port for s in sentinel.sentinels]
    assert len(sentinel.nodes) == 3 and sentinel.running
    primary = sentinel.primary_port()
    assert primary == sentinel.nodes[0].port

    admin = redisconn.connect_sync(sentinel.url, socket_timeout=2)
    md = redisconn.connect_sync(sentinel.role_url("marketdata"), socket_timeout=2)
    consumer = redisconn.connect_sync(sentinel.role_url("consumer"), socket_timeout=2)
    try:
        md.hset("md:last", "NSE:SBIN-EQ", '{"seq": 0}')
        admin.hset("md:last", "NSE:SBIN-EQ", '{"seq": 1}')
        assert admin.wait(2, 2000) == 2  # both replicas have it
        assert consumer.hget("md:last", "NSE:SBIN-EQ") == b'{"seq": 1}'
        with pytest.raises(redis.exceptions.NoPermissionError):
            consumer.hset("md:last", "NSE:SBIN-EQ", "forged")
    finally:
        for client in (admin, md, consumer):
            client.close()
    for node in sentinel.nodes[1:]:  # replicas hold the data, and refuse writes
        direct = redis.Redis(port=node.port, username="admin", password=sentinel.admin_password)
        assert direct.hget("md:last", "NSE:SBIN-EQ") == b'{"seq": 1}'
        with pytest.raises(redis.exceptions.ReadOnlyError):
            direct.set("md:x", "1")
        direct.close()


def test_kill_primary_promotes_a_replica_and_clients_follow(
    sentinel: RedisSentinelServer,
) -> None:
    client = redisconn.connect_sync(sentinel.url, socket_timeout=2)
    try:
        client.set("md:status", "before")
        assert client.wait(2, 2000) == 2
        killed = sentinel.kill_primary()
        assert not sentinel.node(killed).running and sentinel.running
        sentinel.wait_stable(30)
        promoted = sentinel.primary_port()
        assert promoted != killed and promoted in [n.port for n in sentinel.nodes]
        # The same client object, its old connection dead: it asks the Sentinels again.
        assert _eventually(lambda: client.get("md:status")) == b"before"
        client.set("md:status", "after")

        sentinel.restart_node(killed)  # back as a replica of the new primary
        sentinel.wait_stable(30)
        assert sentinel.primary_port() == promoted
        assert client.wait(2, 5000) == 2
        back = redis.Redis(port=killed, username="admin", password=sentinel.admin_password)
        assert back.get("md:status") == b"after" and back.role()[0] == b"slave"
        back.close()
    finally:
        client.close()


async def test_clients_follow_a_switchover_without_readonly(
    sentinel: RedisSentinelServer,
) -> None:
    """A planned switchover demotes a live primary: pooled connections to it stay open."""
    client = redisconn.connect(sentinel.role_url("gateway"), socket_timeout=2)
    blocking = redisconn.connect_sync(sentinel.url, socket_timeout=2)
    try:
        await client.set("gw:k", "1")  # a pooled connection to the current primary
        blocking.set("md:k", "1")
        before = sentinel.switchover()
        await asyncio.to_thread(_wait_new_primary, sentinel, before)
        assert sentinel.node(before).running  # demoted, not dead
        # Writes through the same client land on the new primary: its pooled connection to
        # the demoted node answers READONLY, which redis-py's Sentinel connection turns into
        # a connection error, and the retry (redisconn's connection) asks the Sentinels again.
        # Neither error reaches the caller.
        for i in range(20):
            await client.set("gw:k", str(i))
        assert await client.get("gw:k") == b"19"
        assert blocking.set("md:k", "2") and blocking.get("md:k") == b"2"
        promoted = sentinel.primary_port()
        direct = redis.Redis(port=promoted, username="admin", password=sentinel.admin_password)
        assert direct.get("gw:k") == b"19"
        direct.close()
    finally:
        await client.aclose()
        blocking.close()


def _wait_new_primary(sentinel: RedisSentinelServer, old: int) -> None:
    sentinel.wait_stable(30)
    assert _eventually(lambda: sentinel.primary_port() != old or None)
    sentinel.wait_stable(30)


def _eventually(fn: Callable[[], object], tries: int = 100) -> object:
    """``fn()`` once it stops raising connection errors (a failover in progress)."""
    for _ in range(tries):
        try:
            value = fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            value = None
        if value is not None:
            return value
        time.sleep(0.1)
    raise AssertionError("no answer within the retries")
