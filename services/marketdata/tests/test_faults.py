"""Every emulator fault is survived: the supervisor rebuilds, resubscribes, and seq goes on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis
from md_harness import (
    WATCHLIST,
    Watch,
    WatchFactory,
    assert_seq_increasing,
    last_ticks,
    newest_seqs,
    status,
)

from livews_common import names
from livews_common.models import DemandRecord, encode
from livews_devtools.fleet_marketdata import (
    emulator_access_token,
    seal_feed_token,
    start_marketdata,
    wait_for,
)
from livews_devtools.pytest_plugin import Emulator, Spawn


def _all_resume(feed: Watch, since: float, timeout: float, what: str) -> None:
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(since), timeout, what)


def test_drop_is_survived_with_resubscription(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    md = start_marketdata(spawn, tmp_path, redis_url, emulator, MARKETDATA_BACKOFF_BASE_MS="100")
    feed = watch("md:tick:*")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    for _ in range(2):
        emulator.admin("drop")
        dropped_at = time.time()
        _all_resume(feed, dropped_at + 0.3, 20, "every symbol again after a drop")
    assert_seq_increasing(feed.ticks())
    assert md.metric("livews_marketdata_upstream_reconnects_total", reason="dropped") >= 2
    wait_for(lambda: (status(redis_url) or {}).get("upstream") == "up", 10, "status up")


def test_stall_is_detected_and_recovered(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    md = start_marketdata(
        spawn, tmp_path, redis_url, emulator,
        MARKETDATA_STALL_SECONDS="1.5", MARKETDATA_BACKOFF_BASE_MS="100",
    )  # fmt: skip
    feed = watch("md:tick:*", "md:status")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    emulator.admin("stall", seconds=4)
    stalled_at = time.time()
    feed.until(
        lambda w: any(s["upstream"] == "degraded" and "no data" in (s["reason"] or "")
                      for s in w.by_channel["md:status"]),
        10, "status degraded during the stall",
    )  # fmt: skip
    _all_resume(feed, stalled_at + 3.5, 25, "every symbol after the stall")
    assert md.metric("livews_marketdata_upstream_reconnects_total", reason="stall") >= 1
    assert_seq_increasing(feed.ticks())
    wait_for(lambda: (status(redis_url) or {}).get("upstream") == "up", 10, "status up")


def test_garbage_frames_are_survived(
    marketdata: object, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    feed = watch("md:tick:*")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    for _ in range(3):
        emulator.admin("garbage", count=50)
    after = time.time()
    _all_resume(feed, after + 0.2, 20, "every symbol after garbage")
    assert_seq_increasing(feed.ticks())
    assert (status(redis_url) or {}).get("upstream") == "up"


def test_burst_is_absorbed_and_md_last_stays_current(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    md = start_marketdata(spawn, tmp_path, redis_url, emulator)
    feed = watch("md:tick:*")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    emulator.admin("rate", ticks_per_second=2000)
    emulator.admin("burst", factor=10, seconds=3)
    feed.poll(3.5)
    emulator.admin("rate", ticks_per_second=200)
    feed.poll(1.0)
    ticks = feed.ticks()
    assert len(ticks) > 5000, len(ticks)
    assert_seq_increasing(ticks)
    newest = newest_seqs(ticks)
    last = last_ticks(redis_url)
    assert all(last[s]["seq"] >= seq for s, seq in newest.items())
    assert md.metric("livews_marketdata_ticks_dropped_total", reason="overflow") == 0
    assert (status(redis_url) or {}).get("upstream") == "up"


def test_rejected_symbols_get_verdicts_and_nothing_sticks(
    marketdata: object, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    bad, good, nonsense = "NSE:NIFTY25DECFUT", "NSE:SBIN25DECFUT", "NSE:NOSUCHTHING-EQ"
    emulator.admin("invalid-symbol", symbol=bad)
    feed = watch("md:tick:*", "md:symbols")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    client = redis.Redis.from_url(redis_url)
    try:
        record = DemandRecord(instance="gw-1", quote=[bad, good, nonsense], depth=[], ts=0)
        client.set(names.demand_key("gw-1"), encode(record), px=30_000)
        client.publish(names.DEMAND_CHANGED, "gw-1")
        verdicts = feed.until(
            lambda w: {v["symbol"]: v for v in w.by_channel["md:symbols"]} if {
                bad, good, nonsense} <= {v["symbol"] for v in w.by_channel["md:symbols"]}
            else None,
            10, "verdicts on the demanded symbols",
        )  # fmt: skip
        assert verdicts[good]["ok"] is True
        assert verdicts[bad]["ok"] is False and verdicts[bad]["message"]
        assert verdicts[nonsense]["ok"] is False
        # Negative verdicts are kept apart, with a TTL, so junk symbols fade.
        stored = json.loads(client.get(names.negative_verdict_key(bad)) or b"{}")
        assert stored["ok"] is False
        assert 0 < client.pttl(names.negative_verdict_key(bad)) <= 600_000
        assert client.hget(names.SYMBOL_VERDICTS, bad) is None
        assert json.loads(client.hget(names.SYMBOL_VERDICTS, good) or b"{}")["ok"] is True
        since = time.time()
        feed.until(lambda w: good in w.symbols_seen(since), 15, "ticks of the valid new symbol")
        _all_resume(feed, since, 15, "the watchlist, unaffected")
        assert bad not in feed.symbols_seen() and nonsense not in feed.symbols_seen()
        assert (status(redis_url) or {}).get("upstream") == "up"
    finally:
        client.close()


def test_token_expiry_asks_auth_and_recovers_with_the_new_token(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    state = tmp_path / "state"
    seal_feed_token(redis_url, state, emulator_access_token(emulator))  # we play auth
    md = start_marketdata(spawn, tmp_path, redis_url, emulator, access_token=None)
    feed = watch("md:tick:*", "md:status", names.FEED_TOKEN_RENEW)
    _all_resume(feed, 0, 25, "every watchlist symbol")
    before = newest_seqs(feed.ticks())
    emulator.admin("expire-tokens")
    # The ingestor asks auth for a renewal and says why it is down.
    feed.until(
        lambda w: any(s["upstream"] == "down" and "expired" in (s["reason"] or "")
                      for s in w.by_channel["md:status"]),
        15, "status down: token expired",
    )  # fmt: skip
    assert md.metric("livews_marketdata_token_renew_requests_total") >= 1
    renew = feed.until(lambda w: w.by_channel[names.FEED_TOKEN_RENEW], 5, "a renew request")
    assert "expired" in renew[0]["raw"] and "eyJ" not in renew[0]["raw"]  # a reason, no secret
    assert md.metric("livews_marketdata_upstream_reconnects_total", reason="token_expired") >= 1
    # Auth renews: a new token (issued after the cutoff) appears in Redis.
    seal_feed_token(redis_url, state, emulator_access_token(emulator))
    renewed_at = time.time()
    _all_resume(feed, renewed_at, 25, "every symbol with the new token")
    ticks = feed.ticks()
    assert_seq_increasing(ticks)
    after = newest_seqs(ticks)
    assert all(after[s] > before[s] for s in before)
    wait_for(lambda: (status(redis_url) or {}).get("upstream") == "up", 10, "status up")


def test_no_token_waits_and_says_why(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    md = start_marketdata(spawn, tmp_path, redis_url, emulator, access_token=None)
    st = wait_for(lambda: status(redis_url), 15, "a status")
    assert st["upstream"] == "down"
    assert st["reason"].startswith("no feed token: sign in once through the dashboard")
    ready = md.get("/readyz")
    assert ready.status_code == 503 and "no feed token" in ready.json()["reason"]
    feed = watch("md:tick:*")
    seal_feed_token(redis_url, tmp_path / "state", emulator_access_token(emulator))
    _all_resume(feed, 0, 25, "ticks once a token appears")


def test_refused_auth_is_reported_and_recovered(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    start_marketdata(spawn, tmp_path, redis_url, emulator, MARKETDATA_BACKOFF_BASE_MS="100",
                     MARKETDATA_BACKOFF_MAX_MS="500")  # fmt: skip
    feed = watch("md:tick:*", "md:status")
    _all_resume(feed, 0, 25, "every watchlist symbol")
    emulator.admin("refuse-auth", on=True, scope="socket")
    emulator.admin("drop")
    feed.until(
        lambda w: any(s["upstream"] == "down" and "Authentication failed" in (s["reason"] or "")
                      for s in w.by_channel["md:status"]),
        15, "status down: authentication refused",
    )  # fmt: skip
    emulator.admin("refuse-auth", on=False, scope="socket")
    since = time.time()
    _all_resume(feed, since, 20, "every symbol once auth is accepted again")
    assert_seq_increasing(feed.ticks())
