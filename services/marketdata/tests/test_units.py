"""Small parts: the thread bridge, backoff, demand scanning, token sources, settings."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from typing import Literal

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from livews_common import names
from livews_common.feedtoken import FeedToken, TokenCipher
from livews_common.models import DemandRecord, Tick, encode
from livews_common.settings import ConfigError
from livews_common.symbols import DEFAULT_WATCHLIST
from livews_marketdata.backoff import Backoff
from livews_marketdata.demand import Demand, RedisDemand
from livews_marketdata.metrics import Metrics
from livews_marketdata.settings import FYERS_INDEX_MAP_URL, MarketdataSettings
from livews_marketdata.tokens import (
    NO_TOKEN,
    NOTICE_MIN_INTERVAL,
    Credential,
    NoToken,
    RedisTokenSource,
)
from livews_marketdata.upstream.bridge import Bridge

# -- bridge -------------------------------------------------------------------------------


async def test_bridge_batches_what_threads_push() -> None:
    bridge = Bridge(asyncio.get_running_loop())
    gen = bridge.new_generation()

    def producer() -> None:
        for i in range(5000):
            bridge.push_data(gen, {"type": "sf", "symbol": f"S{i % 7}", "i": i})

    threads = [threading.Thread(target=producer) for _ in range(3)]
    for t in threads:
        t.start()
    got: list[tuple[int, object]] = []
    batches = 0
    async with asyncio.timeout(10):
        while len(got) < 15000:
            got += await bridge.take()
            batches += 1
    for t in threads:
        t.join()
    assert len(got) == 15000 and batches < 15000  # bursts arrive as batches
    now_ms = time.time() * 1000
    assert all(abs(received - now_ms) < 10_000 for received, _ in got)


async def test_bridge_compacts_to_the_newest_per_symbol_when_full() -> None:
    bridge = Bridge(asyncio.get_running_loop(), capacity=100)
    gen = bridge.new_generation()
    for i in range(250):
        bridge.push_data(gen, {"type": "sf", "symbol": f"S{i % 5}", "i": i})
    items = await bridge.take()
    assert bridge.overflow > 0 and len(items) + bridge.overflow == 250
    newest = {raw["symbol"]: raw["i"] for _, raw in items}  # type: ignore[index]
    assert newest == {f"S{k}": 245 + k for k in range(5)}


async def test_bridge_compacts_ticks_made_by_the_hsm_client_too() -> None:
    bridge = Bridge(asyncio.get_running_loop(), capacity=50)
    gen = bridge.new_generation()
    for i in range(120):
        kind: Literal["quote", "index"] = "index" if i % 4 == 3 else "quote"
        tick = Tick(symbol=f"S{i % 4}", kind=kind, seq=i, ltp=1.0 + i, ingest_ts=0)
        bridge.push_batch(gen, [tick])
    items = await bridge.take()
    assert bridge.overflow > 0 and len(items) + bridge.overflow == 120
    newest = {raw.symbol: raw.seq for _, raw in items}  # type: ignore[attr-defined]
    assert newest == {f"S{k}": 116 + k for k in range(4)}


async def test_bridge_ignores_an_old_generation() -> None:
    bridge = Bridge(asyncio.get_running_loop())
    old = bridge.new_generation()
    new = bridge.new_generation()
    bridge.push_data(old, {"type": "sf", "symbol": "OLD"})
    bridge.push_control(old, "close", None)
    bridge.push_data(new, {"type": "sf", "symbol": "NEW"})
    bridge.push_control(new, "close", None)
    (item,) = await bridge.take()
    assert item[1] == {"type": "sf", "symbol": "NEW"}
    event = await asyncio.wait_for(bridge.control.get(), 1)
    assert event.generation == new and bridge.control.empty()


# -- backoff ------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    b = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.next_delay() <= 0.5


# -- demand -------------------------------------------------------------------------------


async def test_demand_is_the_watchlist_plus_every_live_record(redis_client: aioredis.Redis) -> None:
    demand = RedisDemand(redis_client, ["NSE:SBIN-EQ"], debounce=0, rescan=0.05)
    rec = DemandRecord(instance="a", quote=["NSE:TCS-EQ"], depth=["NSE:INFY-EQ"], ts=0)
    await redis_client.set(names.demand_key("a"), encode(rec), px=10_000)
    rec = DemandRecord(instance="b", quote=["NSE:TCS-EQ", "bad symbol"],
                       depth=["NSE:NIFTY50-INDEX"], ts=0)  # fmt: skip
    await redis_client.set(names.demand_key("b"), encode(rec), px=10_000)
    await redis_client.set(names.demand_key("c"), b"{not json", px=10_000)
    got = await demand.scan()
    assert got == Demand(frozenset({"NSE:SBIN-EQ", "NSE:TCS-EQ"}), frozenset({"NSE:INFY-EQ"}))
    task = asyncio.create_task(demand.run())
    try:
        async with asyncio.timeout(5):
            await demand.changed.wait()
        assert demand.current() == got
        demand.changed.clear()
        await redis_client.delete(names.demand_key("a"), names.demand_key("b"))  # they died
        async with asyncio.timeout(5):
            await demand.changed.wait()
        assert demand.current() == Demand(frozenset({"NSE:SBIN-EQ"}), frozenset())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_after_a_reconnection_demand_does_not_shrink_at_once(
    redis_client: aioredis.Redis,
) -> None:
    demand = RedisDemand(redis_client, [], debounce=0, rescan=0.05, hold=30)
    rec = DemandRecord(instance="a", quote=["NSE:TCS-EQ"], depth=[], ts=0)
    await redis_client.set(names.demand_key("a"), encode(rec))
    task = asyncio.create_task(demand.run())
    try:
        demand.resync()  # the first subscription
        async with asyncio.timeout(5):
            await demand.changed.wait()
        demand.resync()  # a re-subscription after an outage
        await redis_client.delete(names.demand_key("a"))  # a restarted Redis lost it
        await demand.scanned.wait()
        await asyncio.sleep(0.3)  # several rescans happen meanwhile
        assert demand.current().quote == {"NSE:TCS-EQ"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- tokens -------------------------------------------------------------------------------


async def test_redis_token_source_says_why_there_is_no_token(redis_client: aioredis.Redis) -> None:
    cipher = TokenCipher(Fernet.generate_key())
    metrics = Metrics()
    source = RedisTokenSource(redis_client, cipher, metrics, instance="t")
    with pytest.raises(NoToken) as err:
        await source.current()
    assert err.value.reason == NO_TOKEN
    other = TokenCipher(Fernet.generate_key())
    feed = FeedToken(access_token="APP-100:abc", account="X", expires_at=0, issued_at=0)
    await redis_client.set(names.FEED_TOKEN, other.seal(feed))
    with pytest.raises(NoToken) as err:
        await source.current()
    assert "LIVEWS_TOKEN_KEY" in err.value.reason
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(names.FEED_TOKEN_RENEW)
    try:
        past = FeedToken(access_token="APP-100:old", account="X", expires_at=1, issued_at=0)
        await redis_client.set(names.FEED_TOKEN, cipher.seal(past))
        with pytest.raises(NoToken, match="expired"):
            await source.current()
        async with asyncio.timeout(5):
            while (
                msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            ) is None:
                pass
        assert b"expired" in msg["data"] and b"old" not in msg["data"]
        fresh = FeedToken(access_token="APP-100:new", account="X", expires_at=0, issued_at=0)
        await redis_client.set(names.FEED_TOKEN, cipher.seal(fresh))
        credential = await source.current()
        assert credential == Credential("APP-100:new", "auth", 0)
        assert "new" not in repr(credential) and credential.bare_token == "new"
        await source.report_expired(credential, "upstream said -99")
        with pytest.raises(NoToken, match="renew"):
            await source.current()
        assert metrics.token_renew_requests._value.get() == 2
    finally:
        await pubsub.aclose()


async def test_token_notices_wake_the_upstream_only_on_a_real_change(
    redis_client: aioredis.Redis,
) -> None:
    cipher = TokenCipher(Fernet.generate_key())
    metrics = Metrics()
    source = RedisTokenSource(redis_client, cipher, metrics, instance="t")
    held = FeedToken(access_token="APP-100:one", account="X", expires_at=0, issued_at=0)
    await redis_client.set(names.FEED_TOKEN, cipher.seal(held))
    assert (await source.current()).access_token == "APP-100:one"
    watcher = asyncio.create_task(source.watch())
    try:
        # a flood of notices (anyone who can publish can send them) with no new token
        began = time.monotonic()
        for _ in range(200):
            source.notify(b"{}")
            await asyncio.sleep(0.001)
        async with asyncio.timeout(5):
            while metrics.token_notices_ignored._value.get() < 1:
                await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
        assert not source.changed.is_set()
        reads = metrics.token_notices_ignored._value.get()
        print(f"\nBOUND 200 notices in {elapsed:.2f}s without a change: {reads:.0f} reads")
        # coalesced: one read per NOTICE_MIN_INTERVAL at most, not one per notice
        assert reads <= elapsed / NOTICE_MIN_INTERVAL + 2
        # the same token sealed again (a fresh ciphertext) is still no change
        await redis_client.set(names.FEED_TOKEN, cipher.seal(held))
        source.notify()
        async with asyncio.timeout(5):
            while metrics.token_notices_ignored._value.get() < reads + 1:
                await asyncio.sleep(0.05)
        assert not source.changed.is_set()
        fresh = FeedToken(access_token="APP-100:two", account="X", expires_at=0, issued_at=1)
        await redis_client.set(names.FEED_TOKEN, cipher.seal(fresh))
        source.notify()
        async with asyncio.timeout(5):
            await source.changed.wait()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


# -- settings -----------------------------------------------------------------------------


def _settings(**env: str) -> MarketdataSettings:
    return MarketdataSettings.model_validate(env)


def test_settings_defaults_and_derivations(tmp_path: Path) -> None:
    s = _settings(LIVEWS_STATE_DIR=str(tmp_path))
    assert s.symbol_token_url == "https://api-t1.fyers.in/data/symbol-token"
    assert s.index_map == FYERS_INDEX_MAP_URL
    assert s.sdk_log_dir == tmp_path / "fyers-sdk"
    assert s.watchlist == DEFAULT_WATCHLIST and s.lease_ttl == 2.0
    emu = _settings(FYERS_DATA_BASE="http://127.0.0.1:8090/data/", MARKETDATA_SDK_LOG_DIR="off")
    assert emu.symbol_token_url == "http://127.0.0.1:8090/data/symbol-token"
    assert emu.index_map == "http://127.0.0.1:8090/sym_details/index_hsm_mapping.json"
    assert emu.sdk_log_dir is None
    assert _settings(MARKETDATA_WATCHLIST="NSE:SBIN-EQ, NSE:TCS-EQ,NSE:SBIN-EQ").watchlist == (
        "NSE:SBIN-EQ", "NSE:TCS-EQ",
    )  # fmt: skip


def test_settings_refuse_what_cannot_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARKETDATA_REPLAY_PATH"):
        _settings(MARKETDATA_SOURCE="replay").check()
    with pytest.raises(ConfigError, match="MARKETDATA_WATCHLIST"):
        _settings(MARKETDATA_WATCHLIST="SBIN").check()
    monkeypatch.setenv("FYERS_ACCESS_TOKEN", "no-colon")
    with pytest.raises(ConfigError, match="APPID:TOKEN"):
        _settings().check()
    monkeypatch.setenv("FYERS_ACCESS_TOKEN", "")
    token_file = tmp_path / "token"
    token_file.write_text("APP-100:secret\n")
    monkeypatch.setenv("FYERS_ACCESS_TOKEN_FILE", str(token_file))
    assert _settings().access_token() == "APP-100:secret"


def test_market_settings(tmp_path: Path) -> None:
    """The calendar by default; ``off`` is always open; a bad holidays file names its line."""
    clock = _settings().market_clock()
    assert clock.override is None and not clock.simulated
    assert _settings(MARKETDATA_MARKET_CALENDAR="off").market_clock().state() == "open"
    saturday = _settings(MARKETDATA_MARKET_CLOCK_START="2026-12-05T10:00:00+05:30")
    assert saturday.market_clock().state() == "closed"
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2026-12-07 a Monday off\n")
    monday = _settings(
        MARKETDATA_HOLIDAYS_FILE=str(holidays),
        MARKETDATA_MARKET_CLOCK_START="2026-12-07T10:00:00+05:30",
    )
    assert monday.market_clock().state() == "closed"
    holidays.write_text("7 Dec 2026\n")
    with pytest.raises(ConfigError, match=r"MARKETDATA_HOLIDAYS_FILE.*line 1"):
        monday.check()
