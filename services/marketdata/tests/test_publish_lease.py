"""The fenced publisher and the leader lease against a real Redis."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from livews_common import names
from livews_common.models import Depth, Status, Tick
from livews_devtools.redis_server import RedisServer
from livews_marketdata.lease import LeaseTable, MemoryLease, RedisLease
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import RedisPublisher, _pack_evalsha

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"
LEVELS = [(100.0, 10, 1)] * 5


def tick(symbol: str, seq: int, ltp: float = 100.0) -> Tick:
    return Tick(symbol=symbol, kind="quote", seq=seq, ltp=ltp, ingest_ts=1_700_000_000_000 + seq)


async def drain(pubsub: aioredis.client.PubSub, want: int, limit: float = 5.0) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(limit):
        while len(got) < want:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg and msg["type"] == "pmessage":
                got.append({"channel": msg["channel"].decode(), **json.loads(msg["data"])})
    return got


@pytest.fixture
async def tick_sub(redis_client: aioredis.Redis) -> AsyncIterator[aioredis.client.PubSub]:
    pubsub = redis_client.pubsub()
    await pubsub.psubscribe("md:tick:*", "md:depth:*", names.STATUS)
    try:
        yield pubsub
    finally:
        await pubsub.aclose()


async def test_one_batch_publishes_every_tick_and_the_newest_last_value(
    redis_client: aioredis.Redis, tick_sub: aioredis.client.PubSub
) -> None:
    lease = RedisLease(redis_client, "me", ttl=5)
    assert await lease.acquire() == 1
    pub = RedisPublisher(redis_client, "me", lambda: lease.epoch, Metrics())
    depth = Depth(symbol=SBIN, seq=1, bids=LEVELS, asks=LEVELS, ingest_ts=1)
    await pub.publish([tick(SBIN, 1, 100.5), tick(INFY, 1), tick(SBIN, 2, 101.0)], [depth])
    got = await drain(tick_sub, 4)
    assert [(m["channel"], m["seq"]) for m in got] == [
        ("md:tick:NSE:SBIN-EQ", 1), ("md:tick:NSE:INFY-EQ", 1), ("md:tick:NSE:SBIN-EQ", 2),
        ("md:depth:NSE:SBIN-EQ", 1),
    ]  # fmt: skip
    last = await redis_client.hgetall(names.LAST_TICKS)
    assert json.loads(last[SBIN.encode()])["seq"] == 2
    assert json.loads(last[SBIN.encode()])["ltp"] == 101.0
    assert json.loads(last[INFY.encode()])["seq"] == 1
    assert await redis_client.hexists(names.LAST_DEPTH, SBIN)
    await pub.set_status(Status(upstream="up", ts=5, symbols=2, reason=None))
    (status,) = await drain(tick_sub, 1)
    assert status["channel"] == names.STATUS and status["upstream"] == "up"
    assert json.loads(await redis_client.get(names.STATUS) or b"{}")["symbols"] == 2


async def test_a_stale_leader_cannot_write(
    redis_client: aioredis.Redis, tick_sub: aioredis.client.PubSub
) -> None:
    old = RedisLease(redis_client, "old", ttl=0.5)
    await old.acquire()
    stale = RedisPublisher(redis_client, "old", lambda: old.epoch, Metrics())
    await asyncio.sleep(0.6)  # the old leader "pauses" past its TTL
    new = RedisLease(redis_client, "new", ttl=5)
    assert await new.acquire() == 2
    await stale.publish([tick(SBIN, 99)], [])
    await stale.set_status(Status(upstream="down", ts=1))
    assert stale.fenced.is_set() and stale.pending_ticks[SBIN].seq == 99
    assert not await redis_client.hexists(names.LAST_TICKS, SBIN)
    assert await redis_client.get(names.STATUS) is None
    assert not await old.renew()  # and it learns it lost the lease
    fresh = RedisPublisher(redis_client, "new", lambda: new.epoch, Metrics())
    await fresh.publish([tick(SBIN, 100)], [])
    (msg,) = await drain(tick_sub, 1)
    assert msg["seq"] == 100


async def test_same_holder_at_an_old_epoch_is_fenced_too(redis_client: aioredis.Redis) -> None:
    lease = RedisLease(redis_client, "me", ttl=0.3)
    first = await lease.acquire()
    epoch_then = first
    pub = RedisPublisher(redis_client, "me", lambda: epoch_then, Metrics())
    await asyncio.sleep(0.4)
    assert await lease.acquire() == 2  # re-taken by the same instance: a new term
    await pub.publish([tick(SBIN, 1)], [])
    assert pub.fenced.is_set() and not await redis_client.hexists(names.LAST_TICKS, SBIN)


async def test_redis_outage_conflates_then_flushes_the_newest() -> None:
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.5)
        metrics = Metrics()
        lease = RedisLease(client, "me", ttl=5)
        await lease.acquire()
        pub = RedisPublisher(client, "me", lambda: lease.epoch, metrics)
        flusher = asyncio.create_task(pub.run())
        try:
            server.stop()
            await pub.publish([tick(SBIN, 1), tick(INFY, 1)], [])
            await pub.publish([tick(SBIN, 2), tick(SBIN, 3, 120.0)], [])
            assert not pub.healthy and {s: t.seq for s, t in pub.pending_ticks.items()} == {
                SBIN: 3, INFY: 1,
            }  # fmt: skip
            server.start()  # a fresh, empty Redis: the lease is gone and must be re-taken
            await asyncio.sleep(0.2)
            assert pub.pending  # fenced now: nothing written without the lease
            assert await lease.acquire() is not None
            pub.kick()
            async with asyncio.timeout(5):
                while pub.pending:
                    await asyncio.sleep(0.02)
            last = await client.hgetall(names.LAST_TICKS)
            assert json.loads(last[SBIN.encode()])["seq"] == 3
            assert json.loads(last[SBIN.encode()])["ltp"] == 120.0
            assert pub.healthy
            conflated = metrics.ticks_dropped.labels("conflated")._value.get()
            assert conflated == 2  # SBIN 1 and 2 were superseded while Redis was away
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await client.aclose()


async def test_batches_survive_a_killed_connection_and_a_flushed_script_cache(
    redis_client: aioredis.Redis, tick_sub: aioredis.client.PubSub
) -> None:
    # Batches go out on the publisher's own connection; when Redis closes it, or forgets the
    # script, the batch in hand still lands (through the client, which retries and loads
    # the script), nothing is conflated, and the next batch has its own connection again.
    lease = RedisLease(redis_client, "me", ttl=5)
    await lease.acquire()
    metrics = Metrics()
    pub = RedisPublisher(redis_client, "me", lambda: lease.epoch, metrics)

    async def own_connection() -> int:
        await pub.publish([tick(SBIN, seq)], [])
        (msg,) = await drain(tick_sub, 1)
        assert msg["seq"] == seq and pub.healthy and not pub.pending
        clients = await redis_client.client_list()
        (own,) = [c for c in clients if "evalsha" in c["cmd"]]
        return int(own["id"])

    seq = 1
    first = await own_connection()
    seq = 2
    assert await own_connection() == first  # the same connection, batch after batch
    await redis_client.client_kill_filter(_id=str(first))
    seq = 3
    await pub.publish([tick(SBIN, seq)], [])  # lands through the client
    (msg,) = await drain(tick_sub, 1)
    assert msg["seq"] == 3 and pub.healthy and not pub.pending
    seq = 4
    again = await own_connection()
    assert again != first
    await redis_client.script_flush()
    seq = 5
    await pub.publish([tick(SBIN, seq)], [])
    (msg,) = await drain(tick_sub, 1)
    assert msg["seq"] == 5 and pub.healthy and not pub.pending
    seq = 6
    assert await own_connection() == again  # a refused script leaves the connection open
    assert metrics.ticks_dropped.labels("conflated")._value.get() == 0
    last = await redis_client.hgetall(names.LAST_TICKS)
    assert json.loads(last[SBIN.encode()])["seq"] == 6


@pytest.mark.parametrize("kind", ["redis", "memory"])
async def test_lease_semantics(kind: str, redis_client: aioredis.Redis) -> None:
    table = LeaseTable()

    def make(holder: str, ttl: float) -> RedisLease | MemoryLease:
        if kind == "redis":
            return RedisLease(redis_client, holder, ttl)
        return MemoryLease(table, holder, ttl)

    a, b = make("a", 0.3), make("b", 0.3)
    assert await a.acquire() == 1 and a.epoch == 1
    assert await b.acquire() is None and b.epoch is None
    assert await a.renew()
    assert not await b.renew()
    await asyncio.sleep(0.2)
    assert await a.renew()  # renewal keeps it past the original TTL
    await asyncio.sleep(0.2)
    assert await b.acquire() is None
    await asyncio.sleep(0.35)  # a stops renewing: it lapses
    assert await b.acquire() == 2
    assert not await a.renew() and a.epoch is None
    await a.release()  # not ours: a no-op
    assert not await a.renew()
    await b.release()
    assert await a.acquire() == 3
    if kind == "redis":
        assert await redis_client.get(names.LEADER_LEASE) == b"a"
        assert await redis_client.get(names.LEADER_EPOCH) == b"3"


def test_the_batch_command_is_packed_as_redis_py_packs_it() -> None:
    # The publisher packs its EVALSHA itself (redis-py's pack_command was a quarter of a
    # batch's CPU): byte for byte what redis-py sends, for str (UTF-8), int and bytes
    # arguments, empty ones, and a payload past redis-py's own buffer cut-off.
    keys = [names.LEADER_LEASE, names.LEADER_EPOCH, names.LAST_TICKS, names.LAST_DEPTH]
    args: list[str | bytes | int] = [
        "md-1a2b", 2**40, names.TICK_CHANNEL_PREFIX, names.DEPTH_CHANNEL_PREFIX,
        "NSE:M&M-EQ\nNSE:ÄÖ-EQ", b'{"v":1}\n' * 1000, "", b"",
    ]  # fmt: skip
    sha = "0123456789abcdef" * 2 + "01234567"
    expected = b"".join(Connection().pack_command("EVALSHA", sha, len(keys), *keys, *args))
    assert _pack_evalsha(sha, keys, args) == expected


async def test_a_batch_larger_than_the_socket_takes_at_once_lands_whole(
    redis_client: aioredis.Redis,
    tick_sub: aioredis.client.PubSub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The publisher writes a batch straight into its connection; when the kernel takes only
    # part of it (here: a 4 KiB send buffer and a ~1 MB batch) it waits for the rest to
    # drain, under the connection's timeout, instead of reading the answer too early.
    lease = RedisLease(redis_client, "me", ttl=5)
    await lease.acquire()
    pub = RedisPublisher(redis_client, "me", lambda: lease.epoch, Metrics())
    await pub.publish([tick(SBIN, 1)], [])  # loads the script, opens the own connection
    await drain(tick_sub, 1)
    own = pub._conn
    assert own is not None
    sock = own._writer.transport.get_extra_info("socket")  # type: ignore[union-attr]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    drained: list[bool] = []
    send = Connection.send_packed_command

    async def spy(self: Connection, command: Any, check_health: bool = True) -> None:
        drained.append(command == b"")
        await send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", spy)
    symbols = [f"NSE:BIG{i}-EQ" for i in range(3_000)]
    await pub.publish([tick(s, 1, ltp=100.0 + i / 100) for i, s in enumerate(symbols)], [])
    assert pub.healthy and not pub.pending
    assert drained == [True]  # the partial write was waited for on the own connection
    assert pub._conn is own
    assert await redis_client.hlen(names.LAST_TICKS) == len(symbols) + 1
    got = await drain(tick_sub, len(symbols), limit=30.0)
    assert [m["symbol"] for m in got] == symbols
    await pub.publish([tick(SBIN, 2)], [])  # the connection is still in step
    (msg,) = await drain(tick_sub, 1)
    assert msg["symbol"] == SBIN and msg["seq"] == 2
