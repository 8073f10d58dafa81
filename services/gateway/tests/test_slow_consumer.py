"""A client that stops reading is conflated, then cut off — and the others do not notice."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet_gateway import (
    RawSocketIOClient,
    TokenMint,
    make_tick,
    parse_metrics,
    start_gateway,
)

pytestmark = pytest.mark.slow

SYMBOLS = list(DEFAULT_WATCHLIST)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Publisher:
    """Every symbol once per round, ``rounds_per_second`` rounds a second, like the ingestor."""

    def __init__(self, redis: Any, rounds_per_second: float) -> None:
        self.redis = redis
        self.period = 1.0 / rounds_per_second
        self.seq = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self.seq += 1
            pipe = self.redis.pipeline(transaction=False)
            for symbol in SYMBOLS:
                data = json.dumps(make_tick(symbol, self.seq, ltp=100.0 + self.seq % 7))
                pipe.hset("md:last", symbol, data)
                pipe.publish(f"md:tick:{symbol}", data)
            await pipe.execute()
            next_at += self.period
            await asyncio.sleep(max(0.0, next_at - loop.time()))


@pytest.mark.timeout(120)
async def test_a_client_that_stops_reading_does_not_slow_the_others(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, redis_client: Any,
    probes: Any,
) -> None:  # fmt: skip
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_SLOW_CONSUMER_SECONDS="2",
        GATEWAY_CLIENT_BUFFER_BYTES="131072", GATEWAY_SOCKET_SNDBUF="262144",
    )  # fmt: skip
    http = httpx.AsyncClient(base_url=gw.url)

    async def metric(name: str) -> float:
        return parse_metrics((await http.get("/metrics")).text).get(name, 0.0)

    healthy = [probes() for _ in range(4)]
    latencies: list[list[float]] = [[], []]  # per phase: before and during the stall
    phase = 0

    def measure(client: Any) -> Any:
        def on_ticks(ticks: list[dict[str, Any]]) -> None:
            now = time.time() * 1000
            latencies[phase].extend(now - t["ingest_ts"] for t in ticks)
            client.record("ticks", ticks)

        return on_ticks

    for client in healthy:
        await client.connect(gw.url, token_mint.mint())
        client.sio.on("ticks", measure(client))
        await client.call("subscribe", {"symbols": SYMBOLS})
    stalled = RawSocketIOClient(token_mint.mint())
    await stalled.connect("127.0.0.1", gw.port)
    assert (await stalled.call("subscribe", {"symbols": SYMBOLS}))["ok"] is True

    publisher = Publisher(redis_client, rounds_per_second=25)  # 1,300 ticks/s, ~600 KB/s
    task = asyncio.create_task(publisher.run())
    try:
        # Baseline: everyone reads.
        await healthy[0].wait_for(lambda: len(latencies[0]) >= 4 * 52 * 40, "a baseline", 20)
        phase = 1
        stalled.pause()
        paused_at = time.monotonic()
        # The stalled client's buffers fill, it is conflated, then cut off (bye slow_consumer).
        async with asyncio.timeout(60):
            while await metric("livews_gateway_slow_consumer_disconnects_total") < 1:
                more = len(latencies[1]) + 52
                await healthy[0].wait_for(lambda n=more: len(latencies[1]) > n, "ticks", 10)
        assert await metric("livews_gateway_conflated_ticks_total") > 0
        # A little more traffic after the cut, still measured.
        target = len(latencies[1]) + 4 * 52 * 10
        await healthy[0].wait_for(lambda: len(latencies[1]) >= target, "ticks after the cut", 20)
        cut_after = time.monotonic() - paused_at
        # The stalled connection is gone on the server side.
        assert await metric("livews_gateway_connections") == len(healthy)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stalled.close()
        await http.aclose()

    before, during = p99(latencies[0]), p99(latencies[1])
    print(
        f"stalled client cut off {cut_after:.1f} s after it stopped reading; healthy clients' "
        f"p99 latency {before:.1f} ms before, {during:.1f} ms during the stall"
    )
    # A gateway held up by the stalled client would show seconds here (its buffers, then
    # the 2 s slow-consumer window); the margins only absorb scheduling noise on a shared box.
    assert during <= max(2 * before, before + 100.0), (before, during)
    assert median(latencies[1]) <= median(latencies[0]) + 20.0
    # Every healthy client saw every seq of every symbol, in order: nothing conflated for them.
    for client in healthy:
        for symbol in (SYMBOLS[0], SYMBOLS[-1]):
            seqs = [t["seq"] for t in client.ticks(symbol)]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), symbol
