"""The gateway's Redis side on a real Redis Cluster (3 primaries), as the ``gateway`` ACL user.

- the bus SSUBSCRIBEs shard channels on the shard that owns each (and classic channels over
  SUBSCRIBE), reference-counted, and receives what the ingestor's publisher SPUBLISHes;
- a slot migration makes it re-subscribe where the channel lives now: ``on_down``, ``on_up``
  (the owner then catches up from ``md:last``), and delivery resumes;
- the store's reads and the per-user quota scripts work on a cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from livews_common import names, redis_acl, redisconn
from livews_common.models import Status, Tick
from livews_devtools.redis_cluster import RedisClusterServer
from livews_gateway.quotas import QuotaBook, QuotaLimits
from livews_gateway.redis_bus import RedisBus
from livews_gateway.redis_store import RedisStore
from livews_marketdata.lease import RedisLease
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import RedisPublisher

SYMBOLS = ("NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ")


def tick(symbol: str, seq: int) -> Tick:
    return Tick(symbol=symbol, kind="quote", seq=seq, ltp=100.0 + seq, ingest_ts=1_700_000_000_000)


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


@dataclass
class Seen:
    """What the bus delivered and reported."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    ups: int = 0
    downs: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def message(self, channel: str, data: bytes) -> None:
        self.messages.append((channel, data))
        self.changed.set()

    def up(self) -> None:
        self.ups += 1
        self.changed.set()

    def down(self) -> None:
        self.downs += 1
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], what: str, limit: float = 15.0) -> None:
        try:
            async with asyncio.timeout(limit):
                while not predicate():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; saw {self}") from None

    def seqs(self, channel: str) -> list[int]:
        return [json.loads(d)["seq"] for c, d in self.messages if c == channel]


@pytest.fixture
async def bus(cluster: RedisClusterServer, admin: aioredis.Redis) -> AsyncIterator[
    tuple[RedisBus, Seen]
]:  # fmt: skip
    seen = Seen()
    bus = RedisBus(
        cluster.role_url(redis_acl.GATEWAY), seen.message, on_up=seen.up, on_down=seen.down
    )
    task = asyncio.create_task(bus.run())
    try:
        await seen.until(lambda: seen.ups == 1, "the bus up")
        yield bus, seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def leader(cluster: RedisClusterServer, admin: aioredis.Redis) -> AsyncIterator[
    RedisPublisher
]:  # fmt: skip
    client = redisconn.connect(cluster.role_url(redis_acl.MARKETDATA))
    lease = RedisLease(client, "me", ttl=30)
    assert await lease.acquire() is not None
    try:
        yield RedisPublisher(client, "me", lambda: lease.epoch, Metrics())
    finally:
        await client.aclose()


async def test_ticks_reach_the_bus_through_ssubscribe_on_every_shard(
    cluster: RedisClusterServer, bus: tuple[RedisBus, Seen], leader: RedisPublisher,
    admin: aioredis.Redis,
) -> None:  # fmt: skip
    the_bus, seen = bus
    channels = [names.tick_channel(s) for s in SYMBOLS]
    assert len({cluster.primary_port(c) for c in channels}) >= 2  # spread over shards
    assert await the_bus.acquire([*channels, names.STATUS, names.bar_channel(SYMBOLS[0])])
    assert await the_bus.acquire(channels[:1])  # held twice: one subscription
    # The shards see the gateway's subscriptions as shard channels, each on its owner only.
    for channel in channels:
        owner = cluster.primary_port(channel)
        for port in cluster.primary_ports():
            node = aioredis.Redis(port=port, username="admin", password=cluster.admin_password)
            try:
                reply = await node.execute_command("PUBSUB", "SHARDNUMSUB", channel)
            finally:
                await node.aclose()
            assert int(reply[1]) == (1 if port == owner else 0), (channel, port)
    await leader.publish([tick(s, 1) for s in SYMBOLS] + [tick(SYMBOLS[0], 2)], [])
    await leader.set_status(Status(upstream="up", ts=1, symbols=3))
    await seen.until(
        lambda: sum(len(seen.seqs(c)) for c in channels) == 4 and seen.seqs(names.STATUS) == [],
        "four ticks",
    )
    assert seen.seqs(channels[0]) == [1, 2]
    await seen.until(lambda: any(c == names.STATUS for c, _ in seen.messages), "the status")
    # Released once: still held. Released twice: unsubscribed (nothing more arrives from it).
    the_bus.release(channels[:1])
    await leader.publish([tick(SYMBOLS[0], 3)], [])
    await seen.until(lambda: seen.seqs(channels[0]) == [1, 2, 3], "seq 3")
    the_bus.release(channels[:1])
    the_bus.release(channels[1:2])
    await asyncio.sleep(0.2)  # the sunsubscribe is written by the bus's writer task
    await leader.publish([tick(SYMBOLS[0], 4), tick(SYMBOLS[1], 4), tick(SYMBOLS[2], 4)], [])
    await seen.until(lambda: seen.seqs(channels[2]) == [1, 4], "the third symbol's seq 4")
    assert seen.seqs(channels[0]) == [1, 2, 3] and seen.seqs(channels[1]) == [1]
    assert seen.downs == 0 and seen.ups == 1  # our own unsubscribes are no slot move
    store = RedisStore(cluster.role_url(redis_acl.GATEWAY))
    try:  # what the gateway reads when it catches up
        latest = await store.latest("quote", list(SYMBOLS))
        assert [json.loads(v or b"{}")["seq"] for v in latest] == [4, 4, 4]
        assert json.loads(await store.status() or b"{}")["upstream"] == "up"
        assert await store.verdicts(list(SYMBOLS)) == [None, None, None]
        assert not await store.is_revoked("some-session")
    finally:
        await store.aclose()


async def test_a_slot_migration_resubscribes_and_reports_a_blip(
    cluster: RedisClusterServer, bus: tuple[RedisBus, Seen], leader: RedisPublisher
) -> None:
    the_bus, seen = bus
    channel = names.tick_channel(SYMBOLS[0])
    assert await the_bus.acquire([channel, names.STATUS])
    await leader.publish([tick(SYMBOLS[0], 1)], [])
    await seen.until(lambda: seen.seqs(channel) == [1], "seq 1")
    before = cluster.primary_port(channel)
    after = await asyncio.to_thread(cluster.reshard, channel)
    assert after != before
    # The old owner dropped the channel (sunsubscribe): the bus reconnects as after a blip.
    await seen.until(lambda: seen.downs == 1 and seen.ups == 2, "down then up again")
    await leader.publish([tick(SYMBOLS[0], 2)], [])
    await seen.until(lambda: seen.seqs(channel) == [1, 2], "seq 2 from the new owner")
    assert the_bus.up and the_bus.reconnects == 2


async def test_a_shard_channel_released_before_it_was_subscribed(
    bus: tuple[RedisBus, Seen], leader: RedisPublisher
) -> None:
    the_bus, seen = bus
    quick, kept = names.tick_channel(SYMBOLS[1]), names.tick_channel(SYMBOLS[2])
    await the_bus.acquire([quick], wait=0.0)  # not confirmed yet…
    the_bus.release([quick])  # …and gone again before the writer ran
    assert await the_bus.acquire([kept])
    await leader.publish([tick(SYMBOLS[1], 1), tick(SYMBOLS[2], 1)], [])
    await seen.until(lambda: seen.seqs(kept) == [1], "the kept channel's tick")
    assert seen.downs == 0 and the_bus.up  # no session lost over it


@dataclass
class Conn:
    sid: str
    user: str
    subs: tuple[set[str], ...] = (set(),)


async def test_per_user_quotas_on_a_cluster(
    cluster: RedisClusterServer, admin: aioredis.Redis
) -> None:
    client = redisconn.connect(cluster.role_url(redis_acl.GATEWAY))
    limits = QuotaLimits(max_connections=2, max_symbols=2, probes=3, lease=30.0)
    book = QuotaBook(client, limits, instance="gw1")
    try:
        users = ("alice", "bob", "carol")  # their keys spread over slots
        for user in users:
            assert await book.admit_connection(Conn(f"{user}-1", user))
            assert await book.admit_connection(Conn(f"{user}-2", user))
            assert not await book.admit_connection(Conn(f"{user}-3", user))  # over the cap
            assert await book.admit_symbols(user, ["A", "B", "C"]) == ["C"]
            assert await book.take_probes(user, 5) == 3
        await book.refresh()  # the two-key script, per user, in the user's slot
        assert book.errors == 0
        for user in users:
            conns = names.user_connections_key(user, cluster=True)
            syms = names.user_symbols_key(user, cluster=True)
            assert await admin.zcard(conns) == 2 and await admin.zcard(syms) == 2
            assert await admin.pttl(conns) > 20_000
        await book.withdraw()
        assert await admin.zcard(names.user_connections_key("alice", cluster=True)) == 0
    finally:
        await client.aclose()


async def test_a_primary_failover_resubscribes_on_the_promoted_replica() -> None:
    """SIGKILL of the primary owning a held channel: its replica takes over, the bus follows."""
    with RedisClusterServer(replicas=1) as failing:
        seen = Seen()
        bus = RedisBus(
            failing.role_url(redis_acl.GATEWAY), seen.message, on_up=seen.up, on_down=seen.down
        )
        task = asyncio.create_task(bus.run())
        channel = names.tick_channel(SYMBOLS[0])
        try:
            await seen.until(lambda: seen.ups == 1, "the bus up")
            assert await bus.acquire([channel, names.STATUS])
            admin = redisconn.connect_sync(failing.url)
            admin.execute_command("SPUBLISH", channel, json.dumps({"seq": 1}))
            admin.close()
            await seen.until(lambda: seen.seqs(channel) == [1], "seq 1")
            killed = failing.kill_primary(channel)
            await asyncio.to_thread(failing.wait_stable, 30.0)
            assert failing.primary_port(channel) != killed
            await seen.until(lambda: seen.downs == 1 and seen.ups == 2, "down, then up again", 30)
            admin = redisconn.connect_sync(failing.url)
            admin.execute_command("SPUBLISH", channel, json.dumps({"seq": 2}))
            admin.close()
            await seen.until(lambda: seen.seqs(channel) == [1, 2], "seq 2 from the new primary")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
