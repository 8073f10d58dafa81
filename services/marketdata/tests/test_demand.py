"""Gateway demand drives the upstream subscriptions; a dead gateway's demand fades."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
from md_harness import WATCHLIST, WatchFactory

from livews_common import names
from livews_common.models import DemandRecord, encode
from livews_devtools.fleet_marketdata import start_marketdata, wait_for
from livews_devtools.pytest_plugin import Emulator, Spawn

FUT = "NSE:NIFTY25DECFUT"
SBIN = "NSE:SBIN-EQ"


def _topics(emulator: Emulator) -> int:
    state = httpx.get(f"{emulator.url}/admin/state", timeout=5).json()
    return int(state["subscribed_topics"])


def _announce(client: redis.Redis, instance: str, quote: list[str], depth: list[str],
              ttl_ms: int) -> None:  # fmt: skip
    record = DemandRecord(instance=instance, quote=quote, depth=depth, ts=int(time.time() * 1000))
    client.set(names.demand_key(instance), encode(record), px=ttl_ms)
    client.publish(names.DEMAND_CHANGED, instance)


def test_demand_changes_subscriptions_and_expires(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    md = start_marketdata(
        spawn, tmp_path, redis_url, emulator, MARKETDATA_DEMAND_RESCAN_SECONDS="0.5"
    )
    feed = watch("md:tick:*", "md:depth:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    assert _topics(emulator) == len(WATCHLIST)
    client = redis.Redis.from_url(redis_url)
    try:
        # A gateway needs a future's quotes and SBIN's depth.
        _announce(client, "gw-1", [FUT, SBIN], [SBIN], ttl_ms=60_000)
        wait_for(lambda: _topics(emulator) == len(WATCHLIST) + 2, 10, "two more upstream topics")
        asked = time.time()
        feed.until(lambda w: FUT in w.symbols_seen(asked - 1), 10, "ticks of the future")
        feed.until(lambda w: w.by_channel[names.depth_channel(SBIN)], 10, "SBIN depth")
        depth = feed.by_channel[names.depth_channel(SBIN)][-1]
        assert set(depth) == {"v", "symbol", "seq", "bids", "asks", "ingest_ts"}
        assert len(depth["bids"]) == len(depth["asks"]) == 5
        assert all(len(level) == 3 for level in depth["bids"])
        assert client.hexists(names.LAST_DEPTH, SBIN)
        assert md.metric("livews_marketdata_subscribed_symbols", kind="quote") == 53
        assert md.metric("livews_marketdata_subscribed_symbols", kind="depth") == 1

        # A second gateway wants the same future: nothing changes upstream.
        _announce(client, "gw-2", [FUT], [], ttl_ms=60_000)
        time.sleep(0.5)  # nothing to wait for: the count must simply stay put
        assert _topics(emulator) == len(WATCHLIST) + 2

        # gw-1 drops depth; gw-2 dies (its key expires without a notice).
        _announce(client, "gw-1", [SBIN], [], ttl_ms=60_000)
        wait_for(lambda: _topics(emulator) == len(WATCHLIST) + 1, 10, "depth unsubscribed")
        client.pexpire(names.demand_key("gw-2"), 1)
        wait_for(lambda: _topics(emulator) == len(WATCHLIST), 10, "the dead gateway's demand gone")
        wait_for(
            lambda: md.metric("livews_marketdata_subscribed_symbols", kind="quote") == 52,
            5, "metrics updated",
        )  # fmt: skip
        gone = time.time() + 0.5
        feed.poll(1.5)
        assert FUT not in feed.symbols_seen(gone)
        assert WATCHLIST <= feed.symbols_seen(gone - 1.5)
        status = client.get(names.STATUS)
        assert status is not None and b'"symbols":52' in status
    finally:
        client.close()


def test_depth_of_an_index_is_never_subscribed(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    start_marketdata(spawn, tmp_path, redis_url, emulator)
    feed = watch("md:tick:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    client = redis.Redis.from_url(redis_url)
    try:
        _announce(client, "gw-1", [], ["NSE:NIFTY50-INDEX", SBIN], ttl_ms=60_000)
        wait_for(lambda: _topics(emulator) == len(WATCHLIST) + 1, 10, "only SBIN depth added")
    finally:
        client.close()


def test_our_symbol_limit_refuses_with_a_clear_verdict(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    start_marketdata(spawn, tmp_path, redis_url, emulator, MARKETDATA_SYMBOL_LIMIT="53")
    feed = watch("md:tick:*", "md:symbols")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    client = redis.Redis.from_url(redis_url)
    try:
        extra = ["NSE:BANKNIFTY25DECFUT", "NSE:NIFTY25DECFUT"]
        _announce(client, "gw-1", extra, [], ttl_ms=60_000)
        verdicts = feed.until(
            lambda w: [v for v in w.by_channel["md:symbols"] if "limit" in (v["message"] or "")],
            10, "a symbol-limit verdict",
        )  # fmt: skip
        assert [v["symbol"] for v in verdicts] == ["NSE:NIFTY25DECFUT"]
        assert verdicts[0]["ok"] is False and "limit of 53" in verdicts[0]["message"]
        wait_for(lambda: _topics(emulator) == 53, 10, "53 upstream topics")
    finally:
        client.close()


def test_the_servers_own_symbol_limit_is_reported(
    spawn: Spawn, tmp_path: Path, redis_url: str, watch: WatchFactory
) -> None:
    from livews_devtools.pytest_plugin import start_emulator

    emulator = start_emulator(spawn, tmp_path, EMULATOR_SYMBOL_LIMIT="53")
    start_marketdata(spawn, tmp_path, redis_url, emulator)
    feed = watch("md:tick:*", "md:status")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    client = redis.Redis.from_url(redis_url)
    try:
        _announce(client, "gw-1", ["NSE:BANKNIFTY25DECFUT", "NSE:NIFTY25DECFUT"], [], 60_000)
        status = feed.until(
            lambda w: next(
                (s for s in w.by_channel["md:status"] if "limit" in (s["reason"] or "")), None
            ),
            10, "status degraded: over the server's limit",
        )  # fmt: skip
        assert status["upstream"] == "degraded"
        assert "Symbol limit exceeded" in status["reason"]
        since = time.time()
        feed.until(lambda w: WATCHLIST <= w.symbols_seen(since), 10, "the watchlist flows on")
    finally:
        client.close()
