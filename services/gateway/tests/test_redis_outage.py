"""Redis goes away and comes back: clients stay connected, see ``degraded``, then catch up.

Uses a redis-server of its own with an RDB file, so that values written "while the gateway
was not listening" survive the restart and must come from ``md:last``, not from pub/sub.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from livews_devtools.fleet_gateway import TokenMint, make_tick, start_gateway
from livews_devtools.ports import free_port
from livews_devtools.redis_server import find_redis_server

pytestmark = pytest.mark.slow

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"


class PersistentRedis:
    """redis-server on a fixed port that keeps its data in an RDB file across restarts."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--dbfilename", "dump.rdb", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = self.client()
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited")
            time.sleep(0.02)
        client.close()

    def crash(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PersistentRedis]:
    server = PersistentRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.crash()


@pytest.mark.timeout(90)
async def test_clients_ride_out_a_redis_outage(
    spawn: Any, tmp_path: Path, own_redis: PersistentRedis, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(spawn, tmp_path, own_redis.url, token_mint.url)
    r = own_redis.client()
    status = {"upstream": "up", "ts": 1, "symbols": 2, "reason": None}
    r.set("md:status", json.dumps(status))
    r.publish("md:status", json.dumps(status))

    client = probes()
    await client.connect(gw.url, token_mint.mint())
    await client.call("subscribe", {"symbols": [SBIN]})
    await client.wait_for(lambda: any(s["upstream"] == "up" for s in client.of("status")), "up")
    tick = json.dumps(make_tick(SBIN, 1))
    r.hset("md:last", SBIN, tick)
    r.publish(f"md:tick:{SBIN}", tick)
    await client.wait_for(lambda: client.ticks(SBIN), "live seq 1")

    # Newer values land in md:last without a message the gateway could hear; then Redis dies.
    r.hset("md:last", SBIN, json.dumps(make_tick(SBIN, 5)))
    r.hset("md:last", INFY, json.dumps(make_tick(INFY, 3)))
    r.save()
    r.close()
    own_redis.crash()

    degraded = await client.wait_for(
        lambda: [s for s in client.of("status") if s["upstream"] == "degraded"], "degraded", 15
    )
    assert degraded and client.sio.connected
    # Someone arriving during the outage is still let in, and may subscribe.
    late = probes()
    await late.connect(gw.url, token_mint.mint())
    assert (await late.wait_event("status"))["upstream"] == "degraded"
    assert (await late.call("subscribe", {"symbols": [INFY]}))["subscribed"] == [INFY]
    assert (await late.wait_event("snapshot")) == {"ticks": []}

    own_redis.start()
    # Back: status from md:status, and the latest values from md:last — no reconnect.
    await client.wait_for(lambda: [t["seq"] for t in client.ticks(SBIN)] == [1, 5], "seq 5", 20)
    await late.wait_for(lambda: [t["seq"] for t in late.ticks(INFY)] == [3], "INFY seq 3", 20)
    await client.wait_for(lambda: client.of("status")[-1]["upstream"] == "up", "up again", 10)
    assert client.of("disconnect") == [] and late.of("disconnect") == []
    # And live ticks flow again: the channels were subscribed anew.
    r = own_redis.client()
    r.publish(f"md:tick:{SBIN}", json.dumps(make_tick(SBIN, 6)))
    await client.wait_for(lambda: client.ticks(SBIN)[-1]["seq"] == 6, "live seq 6", 10)
    r.close()


@pytest.mark.timeout(90)
async def test_bars_rooms_catch_up_from_the_bars_list_after_an_outage(
    spawn: Any, tmp_path: Path, own_redis: PersistentRedis, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(spawn, tmp_path, own_redis.url, token_mint.url)
    r = own_redis.client()
    start = 1_764_000_000_000 - 1_764_000_000_000 % 60_000

    def bar(seq: int, final: bool) -> str:
        return json.dumps({
            "v": 1, "symbol": SBIN, "tf": "1m", "start": start, "open": 100.0, "high": 101.0,
            "low": 99.0, "close": 100.5, "volume": seq, "ticks": seq, "final": final, "seq": seq,
        })  # fmt: skip

    r.rpush(f"md:bars:1m:{SBIN}", bar(2, False))
    client = probes()
    await client.connect(gw.url, token_mint.mint())
    await client.call("subscribe", {"symbols": [SBIN], "mode": "bars"})
    assert [b["seq"] for b in (await client.wait_event("snapshot"))["bars"]] == [2]
    # The minute closes while the gateway cannot hear it: only the list has the final.
    r.lset(f"md:bars:1m:{SBIN}", -1, bar(4, True))
    r.save()
    r.close()
    own_redis.crash()
    await client.wait_for(
        lambda: [s for s in client.of("status") if s["upstream"] == "degraded"], "degraded", 15
    )
    own_redis.start()
    await client.wait_for(lambda: client.of("bars"), "the final bar after the outage", 20)
    assert [(b["seq"], b["final"]) for f in client.of("bars") for b in f] == [(4, True)]
