"""The Socket.IO API of CONTRACT §3 against a real gateway process, Redis and client.

Tokens come from a test key (``token_mint``); ticks are published straight to Redis as the
ingestor would (CONTRACT §4).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from livews_devtools.fleet_gateway import (
    GatewayProcess,
    TokenMint,
    make_depth,
    make_tick,
    publish_depth,
    publish_tick,
    start_gateway,
)

SBIN, INFY, TCS = "NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ"


async def test_connect_subscribe_snapshot_then_ticks_then_unsubscribe(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    await publish_tick(redis_client, make_tick(SBIN, 10, ltp=812.35))
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    status = await client.wait_event("status")
    assert status["upstream"] == "down" and isinstance(status["ts"], int)

    ack = await client.call("subscribe", {"symbols": [SBIN, INFY], "mode": "quote"})
    assert ack == {"ok": True, "subscribed": [SBIN, INFY], "rejected": []}
    snapshot = await client.wait_event("snapshot")
    assert [t["symbol"] for t in snapshot["ticks"]] == [SBIN]  # INFY has no value yet
    assert snapshot["ticks"][0]["seq"] == 10 and snapshot["ticks"][0]["ltp"] == 812.35

    # Not newer than the snapshot: never sent. Newer: sent, in order.
    await publish_tick(redis_client, make_tick(SBIN, 9))
    await publish_tick(redis_client, make_tick(SBIN, 10))
    await publish_tick(redis_client, make_tick(SBIN, 11))
    await publish_tick(redis_client, make_tick(INFY, 1))
    await client.wait_for(lambda: len(client.ticks()) >= 2, "two live ticks")
    assert [(t["symbol"], t["seq"]) for t in client.ticks()] == [(SBIN, 11), (INFY, 1)]
    assert client.names().index("snapshot") < client.names().index("ticks")

    assert await client.call("unsubscribe", {"symbols": [SBIN]}) == {
        "ok": True,
        "unsubscribed": [SBIN],
    }
    await publish_tick(redis_client, make_tick(SBIN, 12))
    await publish_tick(redis_client, make_tick(INFY, 2))
    await client.wait_for(lambda: client.ticks(INFY)[-1]["seq"] == 2, "INFY seq 2")
    assert [t["seq"] for t in client.ticks(SBIN)] == [11]


async def test_one_frame_carries_every_pending_symbol(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.call("subscribe", {"symbols": [SBIN, INFY, TCS]})
    await client.wait_event("snapshot")
    # One pipeline: the gateway reads all of them in one go and flushes them together.
    pipe = redis_client.pipeline(transaction=False)
    for seq in range(1, 4):
        for symbol in (SBIN, INFY, TCS):
            data = json.dumps(make_tick(symbol, seq))
            pipe.hset("md:last", symbol, data)
            pipe.publish(f"md:tick:{symbol}", data)
    await pipe.execute()
    await client.wait_for(lambda: len(client.ticks()) >= 9, "nine ticks")
    frames = client.of("ticks")
    assert len(frames) < 9, "ticks were not batched"
    assert max(len({t["symbol"] for t in f}) for f in frames) > 1, "no frame spans symbols"
    for symbol in (SBIN, INFY, TCS):
        assert [t["seq"] for t in client.ticks(symbol)] == [1, 2, 3]


async def test_depth_is_its_own_subscription(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any, demand_of: Any
) -> None:
    await publish_depth(redis_client, make_depth(SBIN, 3))
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN], "mode": "depth"})
    assert ack["subscribed"] == [SBIN]
    snapshot = await client.wait_event("snapshot")
    assert snapshot["depth"][0]["seq"] == 3 and len(snapshot["depth"][0]["bids"]) == 5
    await publish_tick(redis_client, make_tick(SBIN, 1))  # quote: not subscribed
    await publish_depth(redis_client, make_depth(SBIN, 4))
    frame = await client.wait_event("depth")
    assert [d["seq"] for d in frame] == [4]
    assert client.of("ticks") == []
    # The demand lists the depth symbol for the ingestor.
    instance = gateway.env["GATEWAY_INSTANCE_ID"]
    await demand_of(instance, lambda d: d.get("depth") == [SBIN] and d.get("quote") == [])


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "NSE:SBIN-EQ",
        [SBIN],
        {},
        {"symbols": SBIN},
        {"symbols": [SBIN, 42]},
        {"symbols": [SBIN], "mode": "tape"},
        {"symbols": [SBIN] * 1001},
    ],
)
async def test_malformed_payloads_are_bad_requests_and_the_socket_stays_up(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any, payload: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    for event in ("subscribe", "unsubscribe"):
        ack = await client.call(event, payload)
        assert ack["ok"] is False and ack["code"] == "bad_request", ack
        assert isinstance(ack["message"], str) and ack["message"]
    refresh = await client.call("auth:refresh", payload)
    assert refresh["ok"] is False and refresh["code"] == "bad_request"
    unknown = await client.call("whatever", {"x": 1})
    assert unknown["code"] == "bad_request"
    # Still connected and serving.
    assert (await client.call("subscribe", {"symbols": [SBIN]}))["ok"] is True


async def test_symbol_format_limits_and_rate(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_MAX_SYMBOLS="3",
        GATEWAY_SUBSCRIBE_RATE="0.1", GATEWAY_SUBSCRIBE_BURST="4",
    )  # fmt: skip
    client = probes()
    await client.connect(gw.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN, "sbin", "NSE:", INFY]})
    assert ack["subscribed"] == [SBIN, INFY]
    assert [(r["symbol"], r["code"]) for r in ack["rejected"]] == [
        ("sbin", "invalid_symbol"),
        ("NSE:", "invalid_symbol"),
    ]
    ack = await client.call("subscribe", {"symbols": [TCS, "NSE:ITC-EQ", SBIN], "mode": "quote"})
    assert ack["subscribed"] == [TCS, SBIN]  # SBIN was already held; ITC is the fourth
    assert [(r["symbol"], r["code"]) for r in ack["rejected"]] == [
        ("NSE:ITC-EQ", "too_many_subscriptions")
    ]
    # Burst of 4 spent (2 subscribes above + these 2); the next calls are refused.
    await client.call("unsubscribe", {"symbols": [TCS]})
    await client.call("subscribe", {"symbols": [TCS]})
    refused = await client.call("subscribe", {"symbols": ["NSE:ITC-EQ"]})
    assert refused["ok"] is False and refused["code"] == "rate_limited"
    assert client.sio.connected


async def test_oversized_message_closes_the_connection(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.sio.emit("subscribe", {"symbols": ["NSE:A-EQ"], "pad": "x" * (70 * 1024)})
    await client.wait_event("disconnect")


async def test_symbol_verdicts(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    bad = {"symbol": "NSE:NOSUCH-EQ", "ok": False, "message": "unknown to Fyers", "ts": 1}
    good = {"symbol": INFY, "ok": True, "message": None, "ts": 1}
    await redis_client.hset(
        "md:symbols", mapping={bad["symbol"]: json.dumps(bad), INFY: json.dumps(good)}
    )
    client = probes()
    await client.connect(gateway.url, token_mint.mint())

    ack = await client.call("subscribe", {"symbols": [INFY, "NSE:NOSUCH-EQ"]})
    assert ack["subscribed"] == [INFY]
    assert ack["rejected"] == [
        {"symbol": "NSE:NOSUCH-EQ", "code": "invalid_symbol", "message": "unknown to Fyers"}
    ]

    # Never seen: the gateway asks for it (demand) and waits for the ingestor's verdict.
    pubsub = redis_client.pubsub()
    await pubsub.subscribe("md:demand")
    call = asyncio.ensure_future(client.call("subscribe", {"symbols": ["NSE:GHOST-EQ"]}))
    async with asyncio.timeout(5):
        while True:
            message = await pubsub.get_message(timeout=5)
            if message and message["type"] == "message":
                record = json.loads(await redis_client.get(f"md:demand:{message['data'].decode()}"))
                if "NSE:GHOST-EQ" in record["quote"]:
                    break
    verdict = {"symbol": "NSE:GHOST-EQ", "ok": False, "message": "no such symbol", "ts": 2}
    await redis_client.publish("md:symbols", json.dumps(verdict))
    ack = await call
    assert ack["subscribed"] == [] and ack["rejected"][0]["code"] == "invalid_symbol"
    await pubsub.aclose()

    # No verdict within GATEWAY_VERDICT_WAIT: accepted (no ingestor must not block clients).
    ack = await client.call("subscribe", {"symbols": ["NSE:LATER-EQ"]})
    assert ack["subscribed"] == ["NSE:LATER-EQ"]


async def test_status_follows_md_status(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.wait_event("status")
    status = {"upstream": "up", "ts": 1_700_000_000_000, "symbols": 52, "reason": None}
    await redis_client.set("md:status", json.dumps(status))
    await redis_client.publish("md:status", json.dumps(status))
    assert await client.wait_event("status", count=2) == {"upstream": "up", "ts": status["ts"]}
    # A new client gets the current status on connect.
    late = probes()
    await late.connect(gateway.url, token_mint.mint())
    assert (await late.wait_event("status"))["upstream"] == "up"


async def test_demand_is_announced_refreshed_and_withdrawn(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, redis_client: Any,
    probes: Any, demand_of: Any,
) -> None:  # fmt: skip
    gw = start_gateway(spawn, tmp_path, redis_url, token_mint.url, GATEWAY_DEMAND_TTL="3")
    key = f"md:demand:{gw.env['GATEWAY_INSTANCE_ID']}"
    client = probes()
    await client.connect(gw.url, token_mint.mint())
    instance = gw.env["GATEWAY_INSTANCE_ID"]
    await client.call("subscribe", {"symbols": [SBIN, INFY]})
    record = await demand_of(instance, lambda d: d.get("quote") == [INFY, SBIN])
    assert record["instance"] == instance and record["depth"] == []
    assert 0 < await redis_client.pttl(key) <= 3000
    await client.call("unsubscribe", {"symbols": [SBIN]})
    await demand_of(instance, lambda d: d.get("quote") == [INFY])
    # Refreshed before its TTL runs out, with nothing changing.
    first = (await demand_of(instance, bool))["ts"]
    await demand_of(instance, lambda d: d.get("ts", 0) > first, timeout=8)
    gw.process.stop()
    assert await redis_client.get(key) is None


async def test_metrics_and_health(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.call("subscribe", {"symbols": [SBIN]})
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    samples = gateway.metrics()
    assert samples["livews_gateway_connections"] == 1
    assert samples['livews_gateway_subscriptions{mode="quote"}'] == 1
    assert samples['livews_gateway_rooms{mode="quote"}'] == 1
    for name in ("frames_out_total", "ticks_out_total", "conflated_ticks_total",
                 "slow_consumer_disconnects_total", "auth_failures_total",
                 "fanout_latency_seconds_bucket"):  # fmt: skip
        assert f"livews_gateway_{name}" in httpx.get(f"{gateway.url}/metrics").text
    assert 'livews_build_info{python="3.' in httpx.get(f"{gateway.url}/metrics").text
    assert 'service="gateway"' in httpx.get(f"{gateway.url}/metrics").text


async def test_status_passes_market_and_an_expired_key_means_down(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    """v1.1: ``market`` reaches clients; a ``md:status`` key that expires turns ``down``."""
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.wait_event("status")
    status = {"upstream": "up", "ts": 1_700_000_000_001, "symbols": 52, "reason": None,
              "market": "closed"}  # fmt: skip
    await redis_client.set("md:status", json.dumps(status), px=2000)
    await redis_client.publish("md:status", json.dumps(status))
    got = await client.wait_event("status", count=2)
    assert got == {"upstream": "up", "ts": status["ts"], "market": "closed"}
    # Nobody refreshes the key: it expires (2 s) and the next poll (every 3 s) says down.
    started = time.monotonic()
    down = await client.wait_event("status", count=3, timeout=15)
    took = time.monotonic() - started
    print(f"\nBOUND md:status expired -> gateway status down after {took:.1f}s (TTL 2 s)")
    assert down["upstream"] == "down" and down["market"] == "closed"
    assert await redis_client.get("md:status") is None
