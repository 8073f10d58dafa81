"""Per-user quotas (quotas.py) against a real Redis: two books stand for two gateways."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livews_common import names
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.quotas import QuotaBook, QuotaLimits


@dataclass(eq=False)
class Conn:
    sid: str
    user: str
    subs: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))


def book(redis: aioredis.Redis | None, instance: str, **limits: float) -> QuotaBook:
    values: dict[str, float] = {
        "max_connections": 2, "max_symbols": 3, "probes": 5, "probe_window": 60.0, "lease": 30.0,
        **limits,
    }  # fmt: skip
    return QuotaBook(
        redis,
        QuotaLimits(
            max_connections=int(values["max_connections"]),
            max_symbols=int(values["max_symbols"]),
            probes=int(values["probes"]),
            probe_window=values["probe_window"],
            lease=values["lease"],
        ),
        instance=instance,
    )


async def test_connections_per_user_are_counted_across_gateways(
    redis_client: aioredis.Redis,
) -> None:
    a, b = book(redis_client, "gw-a"), book(redis_client, "gw-b")
    first, second, third = Conn("s1", "alice"), Conn("s2", "alice"), Conn("s3", "alice")
    assert await a.admit_connection(first)
    assert await b.admit_connection(second)
    assert not await a.admit_connection(third), "a third connection of alice on any gateway"
    assert await b.admit_connection(Conn("s4", "bob")), "another user is not affected"
    assert a.usage() == {"users": 1, "connections": 1}
    await b.release_connection(second)
    assert await a.admit_connection(third)
    ttl = await redis_client.pttl(names.user_connections_key("alice"))
    assert 0 < ttl <= 30_000


async def test_a_crashed_gateways_connections_fade_and_live_ones_are_refreshed(
    redis_client: aioredis.Redis,
) -> None:
    live, crashed = (
        book(redis_client, "gw-live", lease=3.0),
        book(redis_client, "gw-dead", lease=3.0),
    )
    assert await live.admit_connection(Conn("s1", "carol"))
    assert await crashed.admit_connection(Conn("s2", "carol"))
    assert not await live.admit_connection(Conn("s3", "carol"))
    for _ in range(8):  # 4 s: past the crashed gateway's 3 s lease, never past the live one's
        await asyncio.sleep(0.5)
        await live.refresh()
    assert await live.admit_connection(Conn("s3", "carol")), "the dead gateway's count faded"
    assert not await live.admit_connection(Conn("s4", "carol")), "the refreshed one still counts"
    await asyncio.sleep(3.5)  # nobody refreshes now: the key itself expires
    assert await redis_client.exists(names.user_connections_key("carol")) == 0


async def test_symbol_slots_are_distinct_symbols_per_user(redis_client: aioredis.Redis) -> None:
    a, b = (
        book(redis_client, "gw-a", max_connections=5),
        book(redis_client, "gw-b", max_connections=5),
    )
    c1, c2, c3 = Conn("s1", "dave"), Conn("s2", "dave"), Conn("s3", "dave")
    for q, c in ((a, c1), (a, c2), (b, c3)):
        assert await q.admit_connection(c)
    assert await a.admit_symbols("dave", ["NSE:A-EQ", "NSE:B-EQ"]) == []
    c1.subs[0].update({"NSE:A-EQ", "NSE:B-EQ"})
    # Held symbols are free; only one new one fits under the cap of 3.
    assert await b.admit_symbols("dave", ["NSE:A-EQ", "NSE:C-EQ", "NSE:D-EQ"]) == ["NSE:D-EQ"]
    c3.subs[1].add("NSE:C-EQ")
    # c2 (same gateway as c1) also holds A: c1 leaving A does not free its slot.
    assert await a.admit_symbols("dave", ["NSE:A-EQ"]) == []
    c2.subs[0].add("NSE:A-EQ")
    c1.subs[0].discard("NSE:A-EQ")
    await a.release_symbols("dave", ["NSE:A-EQ"])
    assert await a.admit_symbols("dave", ["NSE:E-EQ"]) == ["NSE:E-EQ"]
    c1.subs[0].discard("NSE:B-EQ")
    await a.release_symbols("dave", ["NSE:B-EQ"])
    assert await a.admit_symbols("dave", ["NSE:E-EQ"]) == []
    held = await redis_client.zrange(names.user_symbols_key("dave"), 0, -1)
    assert sorted(held) == [b"NSE:A-EQ", b"NSE:C-EQ", b"NSE:E-EQ"]
    # A disconnect frees the symbols no other connection of the user here holds.
    c2.subs[0].add("NSE:E-EQ")
    await a.release_connection(c2)
    held = await redis_client.zrange(names.user_symbols_key("dave"), 0, -1)
    assert held == [b"NSE:C-EQ"]
    assert await redis_client.pttl(names.user_symbols_key("dave")) > 0


async def test_probes_per_user_per_window(redis_client: aioredis.Redis) -> None:
    q = book(redis_client, "gw-a", probes=5, probe_window=1.0)
    metrics = q._metrics = GatewayMetrics(CollectorRegistry())
    assert await q.take_probes("erin", 3) == 3
    assert await q.take_probes("erin", 5) == 2
    assert await q.take_probes("erin", 1) == 0
    assert await q.take_probes("frank", 4) == 4, "per user"
    assert q.refused["probes"] == 4
    assert metrics.quota_refusals.labels("probes")._value.get() == 4
    ttl = await redis_client.pttl(names.user_probes_key("erin"))
    assert 0 < ttl <= 1000
    await asyncio.sleep(1.2)
    assert await q.take_probes("erin", 2) == 2, "a new window"


async def test_without_redis_every_check_allows() -> None:
    unreachable = aioredis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )  # fmt: skip
    try:
        q = book(unreachable, "gw-a", max_connections=1, max_symbols=1, probes=1)
        conns = [Conn(f"s{i}", "gina") for i in range(3)]
        assert all([await q.admit_connection(c) for c in conns])
        assert await q.admit_symbols("gina", ["NSE:A-EQ", "NSE:B-EQ"]) == []
        assert await q.take_probes("gina", 7) == 7
        await q.release_connection(conns[0])
        assert q.errors >= 4
    finally:
        await unreachable.aclose()
    off = book(None, "gw-b", max_connections=1)
    assert await off.admit_connection(Conn("s1", "hal"))
    assert await off.admit_connection(Conn("s2", "hal"))
    assert not off.enabled


async def test_a_stopping_gateway_frees_what_it_counted(redis_client: aioredis.Redis) -> None:
    q = book(redis_client, "gw-a")
    conns = [Conn("s1", "ivy"), Conn("s2", "ivy"), Conn("s3", "jon")]
    for c in conns:
        assert await q.admit_connection(c)
    assert await q.admit_symbols("ivy", ["NSE:A-EQ"]) == []
    conns[0].subs[0].add("NSE:A-EQ")
    await q.withdraw()
    assert q.usage() == {"users": 0, "connections": 0}
    for key in ("ivy", "jon"):
        assert await redis_client.zcard(names.user_connections_key(key)) == 0
    assert await redis_client.zcard(names.user_symbols_key("ivy")) == 0
