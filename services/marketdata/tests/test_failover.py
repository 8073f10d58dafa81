"""Two ingestors: one leads, one stands by; kill -9 the leader and the standby takes over."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from md_harness import WATCHLIST, WatchFactory, assert_seq_increasing, newest_seqs, status

from livews_common import names
from livews_devtools.fleet_marketdata import start_marketdata, wait_for
from livews_devtools.pytest_plugin import Emulator, Spawn


def _leader(url: str) -> str | None:
    client = redis.Redis.from_url(url)
    try:
        value = client.get(names.LEADER_LEASE)
        return value.decode() if value else None
    finally:
        client.close()


def test_kill_9_the_leader_and_ticks_resume_from_the_standby_within_5s(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    a = start_marketdata(spawn, tmp_path, redis_url, emulator, name="md-a")
    assert a.wait_ready()["checks"]["role"] == "leader"
    b = start_marketdata(spawn, tmp_path, redis_url, emulator, name="md-b")
    ready = b.wait_ready()
    assert ready["checks"]["role"] == "standby" and _leader(redis_url) == "md-a"
    feed = watch("md:tick:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    assert b.metric("livews_marketdata_leader") == 0
    before = newest_seqs(feed.ticks())

    a.process.kill()  # SIGKILL: no lease release, no goodbye
    killed = time.time()
    # A tick ingested after the kill can only come from the standby (a dead process ingests
    # nothing); ticks received after it but ingested before were in flight.
    first = feed.until(
        lambda w: next((at for at, _, doc in w.messages if doc["ingest_ts"] > killed * 1000), None),
        10, "the first tick ingested after the kill",
    )  # fmt: skip
    print(f"ticks resumed {first - killed:.2f}s after kill -9")
    assert first - killed < 5.0, f"ticks resumed {first - killed:.2f}s after kill -9"
    assert _leader(redis_url) == "md-b"
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(first), 15, "every symbol from md-b")
    after = [doc for _, _, doc in feed.messages if doc["ingest_ts"] > killed * 1000]
    assert_seq_increasing(after, floor=before)  # seq continues from md:last, never back
    assert_seq_increasing(feed.ticks())
    assert b.wait_ready()["checks"]["role"] == "leader"
    assert b.metric("livews_marketdata_leader") == 1
    assert b.metric("livews_marketdata_leader_epoch") == 2
    wait_for(lambda: (status(redis_url) or {}).get("upstream") == "up", 10, "status up")


def test_graceful_stop_hands_over_at_once(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    a = start_marketdata(spawn, tmp_path, redis_url, emulator, name="md-a")
    a.wait_ready()
    b = start_marketdata(spawn, tmp_path, redis_url, emulator, name="md-b")
    assert b.wait_ready()["checks"]["role"] == "standby"
    feed = watch("md:tick:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    before = newest_seqs(feed.ticks())
    a.process.stop()
    stopped = time.time()
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(stopped + 1), 15, "every symbol from md-b")
    assert _leader(redis_url) == "md-b"
    after = [doc for _, _, doc in feed.messages if doc["ingest_ts"] > stopped * 1000]
    assert_seq_increasing(after, floor=before)
