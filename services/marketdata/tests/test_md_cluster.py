"""The ingestor's Redis writes on a real Redis Cluster (3 primaries): lease, fences, SPUBLISH.

Each service connects as its own ACL user (``marketdata``; the subscriber as ``consumer``), so
the grants the cluster client and sharded pub/sub need are proven here too.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPubSub, RedisCluster

from livews_common import names, redis_acl, redisconn
from livews_common.models import Bar, DemandRecord, Depth, Status, Tick, encode
from livews_devtools.redis_cluster import RedisClusterServer, slot_of
from livews_gateway.redis_store import RedisStore
from livews_marketdata.bars import BarBuilder, BarWriter
from livews_marketdata.demand import RedisDemand
from livews_marketdata.lease import RedisLease
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import RedisPublisher
from livews_marketdata.verdicts import VerdictBoard, verdict

# Three symbols whose channels hash to three different slots (and, with 3 primaries, shards).
SYMBOLS = ("NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ")
DOC = Path(__file__).parents[3] / "docs" / "redis-contract.md"
DOC_URL = "redis://consumer:<password>@redis-0:6379"
LEVELS = [(100.0, 10, 1)] * 5


def tick(symbol: str, seq: int, ltp: float = 100.0) -> Tick:
    return Tick(symbol=symbol, kind="quote", seq=seq, ltp=ltp, ingest_ts=1_700_000_000_000 + seq)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServer]:
    with RedisClusterServer(replicas=0) as server:
        yield server


@pytest.fixture
async def admin(cluster: RedisClusterServer) -> AsyncIterator[aioredis.Redis]:
    client = redisconn.connect(cluster.url)
    assert isinstance(client, RedisCluster)
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def md(cluster: RedisClusterServer, admin: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    client = redisconn.connect(cluster.role_url(redis_acl.MARKETDATA))
    assert redisconn.is_cluster(client)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def consumer(cluster: RedisClusterServer) -> AsyncIterator[ClusterPubSub]:
    client = redisconn.connect(cluster.role_url(redis_acl.CONSUMER))
    assert isinstance(client, RedisCluster)
    await client.initialize()  # the slot map, before ssubscribe picks each channel's shard
    pubsub = client.pubsub()
    assert isinstance(pubsub, ClusterPubSub)
    for symbol in SYMBOLS:
        await pubsub.ssubscribe(names.tick_channel(symbol), names.depth_channel(symbol))
        await pubsub.ssubscribe(names.bar_channel(symbol))
    await pubsub.subscribe(names.STATUS)
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def sharded(pubsub: ClusterPubSub, want: int, limit: float = 10.0) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(limit):
        while len(got) < want:
            msg = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.05)
            if msg and msg["type"] == "smessage":
                got.append({"channel": msg["channel"].decode(), **json.loads(msg["data"])})
            elif msg is None:
                await asyncio.sleep(0.01)
    return got


def test_the_symbols_spread_over_slots(cluster: RedisClusterServer) -> None:
    owners = {cluster.primary_port(names.tick_channel(s)) for s in SYMBOLS}
    assert len({slot_of(names.tick_channel(s)) for s in SYMBOLS}) == 3
    assert len(owners) >= 2  # at least two shards carry these channels


async def test_lease_and_fenced_publish_on_a_cluster(
    md: aioredis.Redis, admin: aioredis.Redis, consumer: ClusterPubSub
) -> None:
    lease = RedisLease(md, "me", ttl=5)
    assert await lease.acquire() == 1
    assert await RedisLease(md, "other", ttl=5).acquire() is None  # held
    assert await lease.renew()
    assert await admin.get(names.CLUSTER_LEADER_EPOCH) == b"1"
    for key in names.FENCED_KEYS:  # acquire raised every fence to the new epoch
        assert await admin.get(names.fence_key(key)) == b"1"
    pub = RedisPublisher(md, "me", lambda: lease.epoch, Metrics())
    a, b, c = SYMBOLS
    depth = Depth(symbol=a, seq=1, bids=LEVELS, asks=LEVELS, ingest_ts=1)
    await pub.publish([tick(a, 1, 100.5), tick(b, 1), tick(a, 2, 101.0), tick(c, 7)], [depth])
    assert pub.healthy and not pub.pending
    got = await sharded(consumer, 5)
    per_channel: dict[str, list[int]] = {}
    for m in got:
        per_channel.setdefault(m["channel"], []).append(m["seq"])
    assert per_channel == {
        names.tick_channel(a): [1, 2], names.tick_channel(b): [1], names.tick_channel(c): [7],
        names.depth_channel(a): [1],
    }  # fmt: skip
    last = await admin.hgetall(names.LAST_TICKS)
    assert json.loads(last[a.encode()])["seq"] == 2 and json.loads(last[c.encode()])["seq"] == 7
    assert await admin.hexists(names.LAST_DEPTH, a)
    await pub.set_status(Status(upstream="up", ts=5, symbols=3, reason=None))
    async with asyncio.timeout(10):
        while True:  # the status stays a classic channel, and the key keeps its name
            msg = await consumer.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg and msg["type"] == "message":
                assert msg["channel"] == names.STATUS.encode()
                assert json.loads(msg["data"])["upstream"] == "up"
                break
    assert json.loads(await admin.get(names.STATUS) or b"{}")["symbols"] == 3
    assert 0 < await admin.pttl(names.STATUS) <= pub.status_ttl_ms
    await lease.release()
    assert await admin.get(names.LEADER_LEASE) is None


async def test_a_stale_leader_cannot_write_on_a_cluster(
    md: aioredis.Redis, admin: aioredis.Redis
) -> None:
    old = RedisLease(md, "old", ttl=0.5)
    assert await old.acquire() == 1
    stale = RedisPublisher(md, "old", lambda: old.epoch, Metrics())
    a = SYMBOLS[0]
    await stale.publish([tick(a, 1)], [])
    assert not stale.fenced.is_set()
    await asyncio.sleep(0.6)  # the old leader "pauses" past its TTL
    new = RedisLease(md, "new", ttl=5)
    assert await new.acquire() == 2
    await stale.publish([tick(a, 99)], [])
    await stale.set_status(Status(upstream="down", ts=1))
    assert stale.fenced.is_set() and stale.pending_ticks[a].seq == 99
    assert json.loads((await admin.hget(names.LAST_TICKS, a)) or b"{}")["seq"] == 1
    assert await admin.get(names.STATUS) is None
    assert not await old.renew()
    fresh = RedisPublisher(md, "new", lambda: new.epoch, Metrics())
    await fresh.publish([tick(a, 100)], [Depth(symbol=a, seq=3, bids=LEVELS, asks=LEVELS,
                                                ingest_ts=1)])  # fmt: skip
    assert not fresh.fenced.is_set()
    assert json.loads((await admin.hget(names.LAST_TICKS, a)) or b"{}")["seq"] == 100


async def test_bars_on_a_cluster(
    md: aioredis.Redis, admin: aioredis.Redis, consumer: ClusterPubSub
) -> None:
    lease = RedisLease(md, "me", ttl=5)
    await lease.acquire()
    builder = BarBuilder()
    writer = BarWriter(md, builder, "me", lambda: lease.epoch, cap=3)
    start = 1_700_000_040_000
    bars = [
        Bar(symbol=s, start=start, open=1.0, high=2.0, low=0.5, close=1.5, volume=10, ticks=3,
            seq=5)
        for s in SYMBOLS
    ]  # fmt: skip
    writer.pending = {(b.symbol, b.start): b for b in bars}
    assert await writer.write_once()
    assert writer.written == 3
    got = await sharded(consumer, 3)
    assert sorted(m["channel"] for m in got) == sorted(names.bar_channel(s) for s in SYMBOLS)
    for symbol in SYMBOLS:
        (stored,) = await admin.lrange(names.bars_key(symbol), 0, -1)
        assert json.loads(stored)["seq"] == 5
        assert await admin.ttl(names.bars_key(symbol)) > 0
    # Another leader took over: this writer is refused.
    await lease.release()
    other = RedisLease(md, "other", ttl=5)
    await other.acquire()
    writer.pending = {(bars[0].symbol, start + 60_000): bars[0]}
    assert not await writer.write_once()
    assert await admin.llen(names.bars_key(SYMBOLS[0])) == 1


def _example() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- example: consumer-cluster -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the Cluster consumer example is missing from docs/redis-contract.md"
    assert DOC_URL in match.group(1)
    return match.group(1)


async def test_the_docs_cluster_example_runs_as_the_consumer_user(
    cluster: RedisClusterServer, md: aioredis.Redis, tmp_path: Path
) -> None:
    """docs/redis-contract.md's Cluster example, as written, as ``consumer`` on one seed node."""
    lease = RedisLease(md, "me", ttl=30)
    await lease.acquire()
    pub = RedisPublisher(md, "me", lambda: lease.epoch, Metrics())
    await pub.set_status(Status(upstream="up", ts=1, symbols=3))
    await pub.publish([tick(s, 1) for s in SYMBOLS], [])  # md:last before the example starts
    user, password = redis_acl.CONSUMER, cluster.passwords()[redis_acl.CONSUMER]
    port = cluster.primary_ports()[-1]
    script = tmp_path / "consumer.py"
    script.write_text(_example().replace(DOC_URL, f"redis://{user}:{password}@127.0.0.1:{port}"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[list[str]] = []
    try:
        assert proc.stdout is not None
        status = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        assert status == ["status", "up"], status
        seq = 1
        async with asyncio.timeout(30):
            while len(lines) < 9:  # it subscribed at some point: publish until it printed 9
                seq += 1
                await pub.publish([tick(s, seq) for s in SYMBOLS], [])
                try:
                    line = await asyncio.wait_for(proc.stdout.readline(), 0.2)
                except TimeoutError:
                    continue
                if not line:
                    break
                lines.append(line.decode().split())
                while len(lines) < 9:  # drain what is already there
                    try:
                        more = await asyncio.wait_for(proc.stdout.readline(), 0.05)
                    except TimeoutError:
                        break
                    lines.append(more.decode().split())
    finally:
        proc.kill()
        _, err = await proc.communicate()
    assert len(lines) >= 9, err.decode()[-2000:]
    seen: dict[str, int] = {}
    for symbol, ltp, got in lines:
        assert symbol in SYMBOLS and float(ltp) > 0
        assert int(got) > seen.get(symbol, 1)  # only newer than md:last held, and in order
        seen[symbol] = int(got)
    assert set(seen) == set(SYMBOLS)  # every shard's channel delivered


async def test_verdicts_and_demand_on_a_cluster(
    cluster: RedisClusterServer, md: aioredis.Redis, admin: aioredis.Redis
) -> None:
    """The verdict pipeline (keys in many slots) and the demand SCAN (every primary) + MGET."""
    board = VerdictBoard(md, Metrics())
    await board.publish([verdict(SYMBOLS[0], True), verdict("NSE:JUNK-EQ", False, "unknown")])
    assert await admin.hexists(names.SYMBOL_VERDICTS, SYMBOLS[0])
    assert await admin.get(names.negative_verdict_key("NSE:JUNK-EQ"))
    store = RedisStore(cluster.role_url(redis_acl.GATEWAY))
    notices = admin.pubsub()
    await notices.subscribe(names.DEMAND_CHANGED)
    try:  # ten gateways' demand records, spread over the shards
        for i in range(10):
            record = DemandRecord(instance=f"gw{i}", quote=[f"NSE:S{i}-EQ"], depth=[], ts=1)
            await store.announce(f"gw{i}", encode(record), 30.0)
        await store.withdraw("gw9")
        got: list[bytes] = []
        async with asyncio.timeout(10):
            while len(got) < 11:
                msg = await notices.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if msg and msg["type"] == "message":
                    got.append(msg["data"])
        assert got[-1] == b"gw9"
    finally:
        await notices.aclose()
        await store.aclose()
    owners = {cluster.primary_port(names.demand_key(f"gw{i}")) for i in range(10)}
    assert len(owners) >= 2
    demand = await RedisDemand(md, ["NSE:SBIN-EQ"]).scan()
    assert demand.quote == {"NSE:SBIN-EQ", *(f"NSE:S{i}-EQ" for i in range(9))}


async def test_a_deposed_bar_writer_cannot_overwrite_the_new_leaders_bars(
    md: aioredis.Redis, admin: aioredis.Redis
) -> None:
    """The lease check and the list writes are in different slots: each list's fence closes
    the window between them."""
    old = RedisLease(md, "old", ttl=5)
    assert await old.acquire() == 1
    stale = BarWriter(md, BarBuilder(), "old", lambda: 1)
    a, b = SYMBOLS[0], SYMBOLS[1]
    start = 1_700_000_100_000
    await old.release()
    new = RedisLease(md, "new", ttl=5)
    assert await new.acquire() == 2
    fresh = BarWriter(md, BarBuilder(), "new", lambda: new.epoch)
    mine = Bar(symbol=a, start=start, open=5.0, high=5.0, low=5.0, close=5.0, volume=1,
               ticks=1, seq=50)  # fmt: skip
    fresh.pending = {(a, start): mine}
    assert await fresh.write_once()
    assert await admin.get(names.fence_key(names.bars_key(a))) == b"2"
    assert await admin.ttl(names.fence_key(names.bars_key(a))) > 0
    # The stale writer passed its lease check just before the takeover: put its view back.
    await admin.set(names.LEADER_LEASE, "old")
    await admin.set(names.CLUSTER_LEADER_EPOCH, "1")
    late = [Bar(symbol=s, start=start, open=1.0, high=1.0, low=1.0, close=1.0, volume=9,
                ticks=9, seq=9) for s in (a, b)]  # fmt: skip
    stale.pending = {(x.symbol, x.start): x for x in late}
    assert not await stale.write_once()  # refused: kept for a retry its lease check will stop
    (kept,) = await admin.lrange(names.bars_key(a), 0, -1)
    assert json.loads(kept)["seq"] == 50  # the new leader's bar stands
    # b's list had no newer writer yet: that write is the stale window's one accepted write.
    assert len(await admin.lrange(names.bars_key(b), 0, -1)) == 1
