"""One-minute bars: the builder's folding (pure) and the writer against a real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import msgspec
import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from livews_common import names
from livews_common.models import Bar, Tick
from livews_devtools.redis_server import role_url
from livews_marketdata.bars import IST, BarBuilder, BarWriter, next_ist_midnight
from livews_marketdata.lease import RedisLease

SBIN, NIFTY = "NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"
T0 = 1_764_000_000_000 - 1_764_000_000_000 % 60_000  # a minute's start, epoch ms


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms / 1000

    def __call__(self) -> float:
        return self.now


def q(seq: int, ltp: float, volume: int | None, at: int, symbol: str = SBIN) -> Tick:
    return Tick(symbol=symbol, kind="quote", seq=seq, ltp=ltp, volume=volume, ingest_ts=at)


def ix(seq: int, ltp: float, at: int) -> Tick:
    return Tick(symbol=NIFTY, kind="index", seq=seq, ltp=ltp, ingest_ts=at)


def test_ohlc_volume_ticks_and_seq_are_exact_against_the_ticks() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    ticks = [
        q(1, 100.0, 5_000, T0 + 10),  # sets the volume baseline
        q(2, 101.5, 5_040, T0 + 900),
        q(3, 99.25, 5_100, T0 + 20_000),
        q(4, 100.75, 5_130, T0 + 59_999),
    ]
    b.fold(ticks)
    clock.now = (T0 + 60_000) / 1000
    (final,) = b.due()
    assert final == Bar(
        symbol=SBIN, start=T0, open=100.0, high=101.5, low=99.25, close=100.75,
        volume=130, ticks=4, seq=4, final=True,
    )  # fmt: skip
    assert b.due() == []  # a final bar is written once


def test_a_volume_reset_adds_nothing_and_becomes_the_baseline() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    b.fold([q(1, 100, 9_000, T0), q(2, 100, 9_100, T0 + 1), q(3, 100, 40, T0 + 2)])
    b.fold([q(4, 100, 65, T0 + 3)])
    (bar,) = b.due()
    assert bar.volume == 100 + 0 + 25 and not bar.final


def test_indices_have_null_volume() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    b.fold([ix(1, 25_000.0, T0), ix(2, 25_010.5, T0 + 5)])
    (bar,) = b.due()
    assert bar.volume is None and bar.high == 25_010.5 and bar.ticks == 2


def test_the_open_bar_is_published_at_most_once_a_second() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    published = 0
    # 50 ticks over 5 s, a due() pass every 100 ms: ≤ 1 publish per second (+ the first).
    for i in range(50):
        clock.now = (T0 + i * 100) / 1000
        b.fold([q(i + 1, 100 + i % 3, 1000 + i, T0 + i * 100)])
        published += len(b.due())
    print(f"\nBOUND open-bar publishes in 5 s of ticks every 100 ms: {published}")
    assert 4 <= published <= 6
    clock.now += 0.05
    assert b.due() == []  # nothing changed since, nothing due


def test_the_minute_closes_by_the_clock_and_quiet_minutes_make_no_bar() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    b.fold([q(1, 100, 10, T0 + 1)])
    assert [x.final for x in b.due()] == [False]
    clock.now = (T0 + 60_000 + 5) / 1000  # no tick at all in the next minute
    (final,) = b.due()
    assert final.final and final.start == T0
    clock.now = (T0 + 5 * 60_000) / 1000
    assert b.due() == []
    # A tick in a later minute closes nothing more and opens a fresh bar.
    b.fold([q(2, 105, 30, T0 + 5 * 60_000 + 1)])
    (bar,) = b.due()
    assert (bar.start, bar.open, bar.volume, bar.final) == (T0 + 5 * 60_000, 105, 20, False)


def test_a_tick_of_a_new_minute_finalizes_the_previous_bar_first() -> None:
    clock = Clock(T0)
    b = BarBuilder(clock=clock)
    b.fold([q(1, 100, 10, T0), q(2, 102, 12, T0 + 60_000)])
    clock.now = (T0 + 60_001) / 1000
    bars = b.due()
    got = [(x.start, x.final, x.close) for x in bars]
    assert got == [(T0, True, 100), (T0 + 60_000, False, 102)]


def test_next_ist_midnight() -> None:
    at = next_ist_midnight(time.time())
    midnight = datetime.fromtimestamp(at, IST)
    assert (midnight.hour, midnight.minute) == (0, 0)
    assert 0 < at - time.time() <= 24 * 3600


# -- against Redis, as the marketdata user ----------------------------------------------


Writers = Callable[..., Awaitable[BarWriter]]


@pytest.fixture
async def writers(redis_url: str) -> AsyncIterator[Writers]:
    """``await make(holder, clock, cap=500)``: a leader's BarWriter as the marketdata user."""
    clients: list[aioredis.Redis] = []

    async def make(holder: str, clock: Clock, cap: int = 500) -> BarWriter:
        redis = aioredis.Redis.from_url(role_url(redis_url, "marketdata"))
        clients.append(redis)
        lease = RedisLease(redis, holder, ttl=5)
        assert await lease.acquire() is not None
        return BarWriter(redis, BarBuilder(clock=clock), holder, lambda: lease.epoch, cap=cap)

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()


async def _bars(redis_client: aioredis.Redis, symbol: str = SBIN) -> list[Bar]:
    raw = await redis_client.lrange(names.bars_key(symbol), 0, -1)
    return [msgspec.json.decode(r, type=Bar) for r in raw]


async def test_the_list_holds_finals_then_the_open_bar_bounded_and_expiring(
    writers: Writers, redis_client: aioredis.Redis
) -> None:
    clock = Clock(T0)
    w = await writers("me", clock, cap=5)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(names.bar_channel(SBIN))
    for minute in range(8):
        for i in range(3):
            at = T0 + minute * 60_000 + i * 1500
            clock.now = at / 1000
            w.builder.fold([q(minute * 3 + i + 1, 100 + minute + i, 1000 * (minute * 3 + i), at)])
            assert await w.write_once()
    bars = await _bars(redis_client)
    print(f"\nBOUND bars kept with MARKETDATA_BARS_CAP=5 after 8 minutes: {len(bars)}")
    assert len(bars) == 5
    assert [b.start for b in bars] == [T0 + m * 60_000 for m in range(3, 8)]
    assert all(b.final for b in bars[:-1]) and not bars[-1].final
    assert bars[-1].ticks == 3 and bars[-1].close == 109 and bars[-2].volume == 3000
    ttl = await redis_client.ttl(names.bars_key(SBIN))
    assert 0 < ttl <= 24 * 3600
    got = []
    deadline = time.monotonic() + 5
    while not any(m["start"] == T0 + 6 * 60_000 and m["final"] for m in got):
        assert time.monotonic() < deadline, got
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is not None:
            got.append(json.loads(msg["data"]))
    await pubsub.aclose()
    # Every minute: the open bar at once, again 1.5 s later and 1.5 s after, then its final.
    finals = [m for m in got if m["final"]]
    assert [m["start"] for m in finals] == [T0 + m * 60_000 for m in range(7)]
    assert all(m["symbol"] == SBIN and m["tf"] == "1m" for m in got)


async def test_a_new_leader_continues_the_open_bar_from_redis(
    writers: Writers, redis_client: aioredis.Redis
) -> None:
    clock = Clock(T0)
    old = await writers("old", clock)
    old.builder.fold([q(1, 100, 7_000, T0 + 1), q(2, 104, 7_050, T0 + 2)])
    assert await old.write_once()
    await redis_client.hset(names.LAST_TICKS, SBIN, msgspec.json.encode(q(2, 104, 7_050, T0 + 2)))
    # The old leader dies; a new one takes the lease and continues.
    await redis_client.delete(names.LEADER_LEASE)
    new = await writers("new", clock)
    assert await new.seed([SBIN, "NSE:INFY-EQ"]) == 1
    assert not await old.write_once() or old.builder.due() == []  # fenced: nothing written
    clock.now = (T0 + 30_000) / 1000
    new.builder.fold([q(3, 98, 7_080, T0 + 30_000)])
    assert await new.write_once()
    clock.now = (T0 + 61_000) / 1000
    assert await new.write_once()
    (bar,) = await _bars(redis_client)
    assert bar == Bar(
        symbol=SBIN, start=T0, open=100, high=104, low=98, close=98, volume=80, ticks=3,
        seq=3, final=True,
    )  # fmt: skip


async def test_the_writer_refuses_to_write_when_fenced(
    writers: Writers, redis_client: aioredis.Redis
) -> None:
    clock = Clock(T0)
    w = await writers("me", clock)
    await redis_client.set(names.LEADER_LEASE, "someone-else")
    w.builder.fold([q(1, 100, 1, T0)])
    assert not await w.write_once()
    assert await redis_client.exists(names.bars_key(SBIN)) == 0
    assert len(w.pending) == 1  # kept for a retry


async def test_bars_kept_while_writes_fail_are_bounded(
    writers: Writers, redis_client: aioredis.Redis
) -> None:
    clock = Clock(T0)
    w = await writers("me", clock)
    w.max_pending = 4
    await redis_client.set(names.LEADER_LEASE, "someone-else")
    for minute in range(10):
        clock.now = (T0 + minute * 60_000) / 1000
        w.builder.fold([q(minute + 1, 100, minute, T0 + minute * 60_000)])
        assert not await w.write_once()
    print(f"\nBOUND bars kept through 10 failed minutes with max_pending=4: {len(w.pending)}")
    assert len(w.pending) == 4 and w.dropped > 0
    assert sorted(start for _, start in w.pending) == [T0 + m * 60_000 for m in range(6, 10)]


@pytest.mark.parametrize("bad", [b"not json", b'{"v":1,"symbol":"NSE:INFY-EQ"}'])
async def test_seed_skips_unreadable_or_foreign_bars(
    writers: Writers, redis_client: aioredis.Redis, bad: bytes
) -> None:
    await redis_client.rpush(names.bars_key(SBIN), bad)
    w = await writers("me", Clock(T0))
    assert await w.seed([SBIN]) == 0


async def test_the_consumer_user_reads_and_subscribes_bars_but_cannot_write_them(
    writers: Writers, redis_url: str
) -> None:
    clock = Clock(T0)
    w = await writers("me", clock)
    consumer = aioredis.Redis.from_url(role_url(redis_url, "consumer"))
    try:
        pubsub = consumer.pubsub()
        await pubsub.subscribe(names.bar_channel(SBIN))
        w.builder.fold([q(1, 100, 5, T0)])
        assert await w.write_once()
        deadline = time.monotonic() + 5
        msg = None
        while msg is None:
            assert time.monotonic() < deadline
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        assert json.loads(msg["data"])["seq"] == 1
        await pubsub.aclose()
        assert len(await consumer.lrange(names.bars_key(SBIN), 0, -1)) == 1
        if "consumer" in role_url(redis_url, "consumer"):  # our RedisServer has the ACL users
            with pytest.raises(NoPermissionError):
                await consumer.rpush(names.bars_key(SBIN), b"{}")
    finally:
        await consumer.aclose()
