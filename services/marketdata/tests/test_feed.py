"""The ingestor against the real emulator and the real SDK: ticks reach Redis as contracted."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from md_harness import WATCHLIST, WatchFactory, assert_seq_increasing, last_ticks, status

from livews_common.symbols import is_index
from livews_devtools.fleet_marketdata import Marketdata, metric_value, start_marketdata
from livews_devtools.pytest_plugin import Emulator, Spawn

TICK_FIELDS = {
    "v", "symbol", "kind", "seq", "ltp", "open", "high", "low", "prev_close", "change",
    "change_pct", "volume", "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty",
    "tot_buy_qty", "tot_sell_qty", "ltt", "exch_ts", "ingest_ts",
}  # fmt: skip
QUOTE_ONLY = ("volume", "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty",
              "tot_buy_qty", "tot_sell_qty", "ltt")  # fmt: skip


def test_watchlist_ticks_reach_channels_and_md_last(
    marketdata: Marketdata, redis_url: str, watch: WatchFactory
) -> None:
    feed = watch("md:tick:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "a tick of every watchlist symbol")
    feed.poll(1.0)
    now_ms = time.time() * 1000
    ticks = feed.ticks()
    assert_seq_increasing(ticks)
    for tick in ticks:
        assert set(tick) == TICK_FIELDS
        assert tick["v"] == 1 and tick["symbol"] in WATCHLIST
        assert tick["kind"] == ("index" if is_index(tick["symbol"]) else "quote")
        assert isinstance(tick["ltp"], float) and tick["ltp"] > 0
        assert abs(tick["ingest_ts"] - now_ms) < 60_000  # epoch milliseconds
        assert tick["exch_ts"] is None or 0 <= tick["ingest_ts"] - tick["exch_ts"] < 5_000
        if tick["kind"] == "index":
            assert all(tick[k] is None for k in QUOTE_ONLY)
        else:
            assert isinstance(tick["volume"], int) and isinstance(tick["bid"], float)
            assert tick["ltt"] % 1000 == 0 and tick["ltt"] > 1e12  # seconds upstream → ms
    # md:last holds, per symbol, the newest tick (or a newer one).
    last = last_ticks(redis_url)
    assert WATCHLIST <= set(last)
    newest: dict[str, int] = {}
    for tick in ticks:
        newest[tick["symbol"]] = tick["seq"]
    for symbol, seq in newest.items():
        assert last[symbol]["seq"] >= seq
        assert set(last[symbol]) == TICK_FIELDS
    st = status(redis_url)
    assert st is not None and st["upstream"] == "up" and st["symbols"] == len(WATCHLIST)
    assert st["reason"] is None and abs(st["ts"] - now_ms) < 60_000


def test_health_readiness_and_metrics(marketdata: Marketdata, watch: WatchFactory) -> None:
    feed = watch("md:tick:*")
    feed.until(lambda w: len(w.ticks()) >= 20, 25, "20 ticks")
    assert marketdata.get("/healthz").json() == {"status": "ok"}
    ready = marketdata.wait_ready()
    assert ready["status"] == "ready" and ready["reason"] == "leader: upstream up"
    assert ready["checks"]["role"] == "leader" and ready["checks"]["upstream"] == "up"
    assert ready["checks"]["redis"] == "ok"
    text = marketdata.metrics()
    for name in (
        "livews_marketdata_ticks_in_total", "livews_marketdata_ticks_out_total",
        "livews_marketdata_upstream_state", "livews_marketdata_leader",
        "livews_marketdata_subscribed_symbols", "livews_marketdata_publish_latency_seconds_count",
        "livews_marketdata_exchange_lag_seconds_count", "livews_marketdata_upstream_reconnects",
        "livews_marketdata_ticks_dropped", "livews_marketdata_leader_epoch",
    ):  # fmt: skip
        assert name in text, name
    assert 'livews_build_info{python="3.' in text and 'service="marketdata"' in text
    assert metric_value(text, "livews_marketdata_ticks_out_total", kind="tick") >= 20
    assert metric_value(text, "livews_marketdata_upstream_state", state="up") == 1
    assert metric_value(text, "livews_marketdata_leader") == 1
    assert metric_value(text, "livews_marketdata_subscribed_symbols", kind="quote") == 52


def test_help_and_sigterm(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    import subprocess

    from livews_devtools.processes import script

    out = subprocess.run([script("livews-marketdata"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--port" in out.stdout and "md:last" in out.stdout
    md = start_marketdata(spawn, tmp_path, redis_url, emulator)
    feed = watch("md:tick:*")
    feed.until(lambda w: w.ticks(), 25, "a first tick")
    started = time.monotonic()
    code = md.process.stop(timeout=15)
    took = time.monotonic() - started
    assert took < 15, took
    assert code in (0, -15), code  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "released the leader lease" in md.process.log_tail(80)
    st = status(redis_url)
    assert st is not None and st["upstream"] == "down" and "stopped" in st["reason"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{md.url}/healthz", timeout=1)
