"""Market hours and the known gaps (issue #15): ``market`` in md:status, its TTL, md:last rewrite.

Each test runs a real ingestor against the emulator and a real Redis; the market clock is the
test clock of MARKETDATA_MARKET_CLOCK_START / _SPEED, the emulator's session /admin/market.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from md_harness import WATCHLIST, Watch, last_ticks, status

from livews_common import names
from livews_devtools.fleet_marketdata import (
    emulator_access_token,
    seal_feed_token,
    start_marketdata,
    wait_for,
)
from livews_devtools.pytest_plugin import Emulator, Spawn
from livews_devtools.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own (a FLUSHALL on the session's would hit other tests)."""
    with RedisServer() as server:
        yield server


def test_market_follows_the_session_edges_and_the_status_key_expires(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, redis_url: str
) -> None:
    # Friday 4 Dec 2026, 15:29:30 IST, at 2x: open for ~15 s of real time, then closed.
    seen = Watch(redis_url, "md:status")
    try:
        md = start_marketdata(
            spawn, tmp_path, redis_url, emulator, MARKETDATA_STATUS_TTL_SECONDS="3",
            MARKETDATA_MARKET_CALENDAR="nse",
            MARKETDATA_MARKET_CLOCK_START="2026-12-04T15:29:30+05:30",
            MARKETDATA_MARKET_CLOCK_SPEED="2",
        )  # fmt: skip

        def statuses(w: Watch) -> list[dict[str, Any]]:
            return [doc for _, ch, doc in w.messages if ch == names.STATUS]

        opened = seen.until(
            lambda w: next((m for m in statuses(w) if m.get("market") == "open"), None),
            15, "a status with market open",
        )  # fmt: skip
        closed = seen.until(
            lambda w: next((m for m in statuses(w) if m.get("market") == "closed"), None),
            40, "market closed at 15:30",
        )  # fmt: skip
        markets = [m.get("market") for m in statuses(seen)]
    finally:
        seen.close()
    print(f"\nBOUND market values on md:status, in order: {markets}")
    assert markets.index("open") < markets.index("closed")
    assert closed["ts"] > opened["ts"]
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.pttl(names.STATUS)
        assert 0 < ttl <= 3000, ttl
        time.sleep(2.5)  # longer than a third of the TTL: refreshed, still there
        assert client.exists(names.STATUS) and status(redis_url)["market"] == "closed"
        md.process.kill()  # a crash: no last word
        killed = time.monotonic()
        wait_for(lambda: not client.exists(names.STATUS), 10, "md:status expired")
        took = time.monotonic() - killed
    finally:
        client.close()
    print(f"BOUND md:status gone {took:.1f}s after the only ingestor was killed (TTL 3 s)")
    assert took <= 3.5


def test_last_values_are_rewritten_after_a_flushall_in_a_quiet_market(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, own_redis: RedisServer
) -> None:
    url = own_redis.url
    start_marketdata(spawn, tmp_path, url, emulator)
    feed = Watch(url, "md:tick:*")
    try:
        feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    finally:
        feed.close()
    emulator.admin("market", state="closed")  # no trades: only a rewrite can refill md:last
    try:
        time.sleep(1.0)
        before = {s: t["seq"] for s, t in last_ticks(url).items()}
        client = redis.Redis.from_url(url)
        try:
            client.flushall()
            flushed = time.monotonic()
            assert not client.exists(names.LAST_TICKS)
        finally:
            client.close()
        wait_for(lambda: WATCHLIST <= set(last_ticks(url)), 15, "md:last rewritten")
        took = time.monotonic() - flushed
        after = {s: t["seq"] for s, t in last_ticks(url).items()}
    finally:
        emulator.admin("market", state="open")
    print(f"\nBOUND md:last rewritten ({len(after)} symbols) {took:.1f}s after FLUSHALL")
    assert all(after[s] >= before[s] for s in WATCHLIST)
    assert took < 10
    wait_for(lambda: status(url) is not None, 10, "md:status back")


def test_status_warns_before_the_refresh_token_lapses_and_readyz_rides_out_a_stall(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, redis_url: str
) -> None:
    state = tmp_path / "state"
    lapses = int(time.time()) + 30 * 3600  # inside the default 3-day warning
    seal_feed_token(redis_url, state, emulator_access_token(emulator), refresh_expires_at=lapses)
    md = start_marketdata(
        spawn, tmp_path, redis_url, emulator, access_token=None, state_dir=state,
        MARKETDATA_MARKET_CALENDAR="off", MARKETDATA_STALL_SECONDS="3",
    )  # fmt: skip
    st = wait_for(
        lambda: (s := status(redis_url)) and s["upstream"] == "up" and s["reason"] and s, 25,
        "status up with a reason",
    )  # fmt: skip
    print(f"\nBOUND md:status reason with the refresh token 30 h from lapsing: {st['reason']!r}")
    assert "refresh token lapses in 30 h" in st["reason"] and st["market"] == "open"
    # An upstream stall: md:status says degraded, /readyz stays 200 (readiness is serving).
    emulator.admin("stall", seconds=8)
    degraded = wait_for(
        lambda: (s := status(redis_url)) and s["upstream"] == "degraded" and s, 15, "degraded"
    )
    ready = md.get("/readyz")
    print(f"BOUND during a stall: md:status {degraded['upstream']}, /readyz {ready.status_code}")
    assert ready.status_code == 200 and "degraded" in ready.json()["reason"]


@pytest.mark.parametrize(
    ("calendar", "reconnects"),
    [("closed", False), ("open", True)],
    ids=["calendar-closed", "calendar-open"],
)
def test_a_quiet_upstream_is_not_reconnected_while_the_market_is_closed(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, redis_url: str, calendar: str,
    reconnects: bool,
) -> None:  # fmt: skip
    """The emulator's market is closed (socket open, no data); the stall window is 2 s.

    With the ingestor's calendar on a Saturday (closed) nothing is rebuilt in 10 s; with the
    calendar off (always open) the same quiet socket is rebuilt as a stall — so the count is
    a real measurement.
    """
    env = {"MARKETDATA_STALL_SECONDS": "2"}
    if calendar == "closed":
        env["MARKETDATA_MARKET_CALENDAR"] = "nse"
        env["MARKETDATA_MARKET_CLOCK_START"] = "2026-12-05T12:00:00+05:30"  # a Saturday
    else:
        env["MARKETDATA_MARKET_CALENDAR"] = "off"
    md = start_marketdata(spawn, tmp_path, redis_url, emulator, **env)
    wait_for(lambda: (status(redis_url) or {}).get("upstream") == "up", 25, "status up")
    emulator.admin("market", state="closed")
    try:
        time.sleep(1.0)
        before = md.metric("livews_marketdata_upstream_reconnects_total", reason="stall")
        time.sleep(10.0)
        after = md.metric("livews_marketdata_upstream_reconnects_total", reason="stall")
        st = status(redis_url)
    finally:
        emulator.admin("market", state="open")
    print(f"\nBOUND stall reconnects in 10 s of a quiet upstream, calendar {calendar}: "
          f"{after - before:.0f}; md:status {st}")  # fmt: skip
    if reconnects:
        assert after - before >= 1
    else:
        assert after == before
        assert st is not None and st["market"] == "closed" and st["upstream"] == "up"
