"""Redis restarted under the ingestor: publishing resumes and md:last is current again."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from md_harness import WATCHLIST, Watch, assert_seq_increasing, last_ticks, status

from livews_common import names
from livews_devtools.fleet_marketdata import Marketdata, start_marketdata, wait_for
from livews_devtools.pytest_plugin import Emulator, Spawn
from livews_devtools.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own (restarting the session's would hit other tests)."""
    with RedisServer() as server:
        yield server


@pytest.mark.parametrize("outage", [0.0, 3.0], ids=["restart", "outage-3s"])
def test_publishing_resumes_after_redis_restarts(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, own_redis: RedisServer, outage: float
) -> None:
    url = own_redis.url
    md = start_marketdata(spawn, tmp_path, url, emulator)
    feed = Watch(url, "md:tick:*")
    try:
        feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 25, "every watchlist symbol")
    finally:
        feed.close()
    before = {s: t["seq"] for s, t in last_ticks(url).items()}

    own_redis.stop()  # everything in it is gone: lease, md:last, md:status
    if outage:
        time.sleep(outage)  # the outage itself: longer than the lease TTL (2 s)
    own_redis.start()
    back = time.time()

    # md:last is rebuilt: every symbol, newer than before the restart, seq continuing.
    def rebuilt() -> bool:
        last = last_ticks(url)
        return WATCHLIST <= set(last) and all(last[s]["seq"] > before[s] for s in WATCHLIST)

    wait_for(rebuilt, 15, "md:last rebuilt with continuing seqs")
    last = last_ticks(url)
    assert all(last[s]["ingest_ts"] > (back - outage - 1) * 1000 for s in WATCHLIST)
    feed = Watch(url, "md:tick:*")
    try:
        feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 20, "live ticks after the restart")
        assert_seq_increasing(feed.ticks(), floor=before)
    finally:
        feed.close()
    wait_for(lambda: (status(url) or {}).get("upstream") == "up", 10, "md:status up again")
    client = redis.Redis.from_url(url)
    try:
        assert client.get(names.LEADER_LEASE) == b"marketdata"
    finally:
        client.close()
    md.wait_ready()
    assert md.metric("livews_marketdata_redis_up") == 1


def test_with_a_standby_the_leader_keeps_its_lease_across_a_restart(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, own_redis: RedisServer
) -> None:
    url = own_redis.url
    _, b, before = _leader_and_standby(spawn, tmp_path, emulator, url)
    own_redis.stop()
    time.sleep(3.0)  # the outage: longer than the lease TTL
    own_redis.start()
    _md_a_still_leads(url, before, b)  # the standby left the lease to md-a


def test_a_standby_that_missed_a_quick_restart_leaves_the_lease_to_the_leader(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, own_redis: RedisServer
) -> None:
    # Both ingestors frozen while Redis restarts empty: neither sees it away (as when a
    # retry inside the client hides a short outage). The standby thaws first and finds the
    # lease free; the lease's epoch, lower than it read before, tells it Redis lost its data,
    # so it waits one lease TTL and the leader, thawed 0.5 s later, takes its lease back.
    url = own_redis.url
    a, b, before = _leader_and_standby(spawn, tmp_path, emulator, url)
    a.process.signal(signal.SIGSTOP)
    b.process.signal(signal.SIGSTOP)
    try:
        own_redis.stop()
        own_redis.start()
        b.process.signal(signal.SIGCONT)
        time.sleep(0.5)  # the standby polls (every 250 ms) before the leader can renew
    finally:
        a.process.signal(signal.SIGCONT)
        b.process.signal(signal.SIGCONT)
    _md_a_still_leads(url, before, b)
    assert "Redis lost its data" in b.process.log_tail(200)


def _leader_and_standby(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, url: str
) -> tuple[Marketdata, Marketdata, dict[str, int]]:
    """md-a leading, md-b standing by, md:last filled; and its seqs."""
    a = start_marketdata(spawn, tmp_path, url, emulator, name="md-a")
    assert a.wait_ready()["checks"]["role"] == "leader"
    b = start_marketdata(spawn, tmp_path, url, emulator, name="md-b")
    assert b.wait_ready()["checks"]["role"] == "standby"
    wait_for(lambda: WATCHLIST <= set(last_ticks(url)), 25, "md:last filled")
    return a, b, {s: t["seq"] for s, t in last_ticks(url).items()}


def _md_a_still_leads(url: str, before: dict[str, int], standby: Marketdata) -> None:
    """md:last rebuilt with seqs continuing from ``before``, md-a holding the lease."""

    def rebuilt() -> bool:
        last = last_ticks(url)
        return WATCHLIST <= set(last) and all(last[s]["seq"] > before[s] for s in WATCHLIST)

    wait_for(rebuilt, 15, "md:last rebuilt with continuing seqs")
    client = redis.Redis.from_url(url)
    try:
        assert client.get(names.LEADER_LEASE) == b"md-a"
    finally:
        client.close()
    assert standby.wait_ready()["checks"]["role"] == "standby"
