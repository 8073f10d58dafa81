"""``mode: "bars"`` (CONTRACT §3 v1.1) against a real gateway process, Redis and client.

Bars are written straight to Redis as the ingestor does (CONTRACT §4): the day's list
``md:bars:1m:{SYMBOL}`` and the channel ``md:bar:1m:{SYMBOL}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from livews_devtools.fleet_gateway import GatewayProcess, TokenMint, start_gateway

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"
T0 = 1_764_000_000_000 - 1_764_000_000_000 % 60_000


def bar(symbol: str, minute: int, seq: int, *, final: bool, close: float = 100.0) -> dict[str, Any]:
    return {
        "v": 1, "symbol": symbol, "tf": "1m", "start": T0 + minute * 60_000, "open": 100.0,
        "high": max(101.0, close), "low": min(99.0, close), "close": close, "volume": 10 * seq,
        "ticks": seq, "final": final, "seq": seq,
    }  # fmt: skip


async def test_snapshot_of_the_day_then_live_bars_including_the_final(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    day = [bar(SBIN, 0, 3, final=True), bar(SBIN, 1, 7, final=True), bar(SBIN, 2, 9, final=False)]
    await redis_client.rpush("md:bars:1m:" + SBIN, *[json.dumps(b) for b in day])
    # Not trusted: a bar of another symbol and a non-UTF-8 value in SBIN's list are dropped.
    await redis_client.rpush("md:bars:1m:" + SBIN, json.dumps(bar(INFY, 2, 9, final=False)))
    await redis_client.rpush("md:bars:1m:" + SBIN, b"\xff\xfe")
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN, INFY], "mode": "bars"})
    assert ack == {"ok": True, "subscribed": [SBIN, INFY], "rejected": []}
    snapshot = await client.wait_event("snapshot")
    assert snapshot == {"bars": day}

    def live() -> list[dict[str, Any]]:
        return [b for frame in client.of("bars") for b in frame]

    # Poison first (high below low; another symbol's bar): dropped, never followed.
    poison = {**bar(SBIN, 2, 50, final=False), "high": 1.0}
    await redis_client.publish("md:bar:1m:" + SBIN, json.dumps(poison))
    await redis_client.publish("md:bar:1m:" + SBIN, json.dumps(bar(INFY, 2, 60, final=False)))
    # The open bar again (same seq: not newer, never sent); then its update and its final.
    for b in (bar(SBIN, 2, 9, final=False), bar(SBIN, 2, 11, final=False, close=104.0),
              bar(SBIN, 2, 11, final=True, close=104.0), bar(INFY, 2, 1, final=False),
              bar(SBIN, 3, 12, final=False)):  # fmt: skip
        await redis_client.publish("md:bar:1m:" + b["symbol"], json.dumps(b))
    await client.wait_for(lambda: len(live()) >= 4, "four live bars")
    assert [(b["symbol"], b["start"], b["seq"], b["final"]) for b in live()] == [
        (SBIN, T0 + 120_000, 11, False), (SBIN, T0 + 120_000, 11, True),
        (INFY, T0 + 120_000, 1, False), (SBIN, T0 + 180_000, 12, False),
    ]  # fmt: skip
    assert client.of("ticks") == []  # bars rooms are not quote rooms

    # Bars and quotes of a symbol are independent subscriptions; unsubscribe leaves the room.
    assert (await client.call("unsubscribe", {"symbols": [SBIN], "mode": "bars"}))["ok"]
    await redis_client.publish("md:bar:1m:" + SBIN, json.dumps(bar(SBIN, 3, 13, final=False)))
    await redis_client.publish("md:bar:1m:" + INFY, json.dumps(bar(INFY, 2, 2, final=False)))
    await client.wait_for(lambda: live()[-1]["seq"] == 2, "INFY seq 2")
    assert [b["seq"] for b in live() if b["symbol"] == SBIN] == [11, 11, 12]


async def test_bars_count_against_the_per_connection_limit_and_bad_mode_is_refused(
    spawn: Any, tmp_path: Path, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(spawn, tmp_path, redis_url, token_mint.url, GATEWAY_MAX_SYMBOLS="2")
    client = probes()
    await client.connect(gw.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN], "mode": "candles"})
    assert ack["ok"] is False and ack["code"] == "bad_request" and "bars" in ack["message"]
    # GATEWAY_MAX_SYMBOLS covers quote + depth + bars subscriptions together.
    assert (await client.call("subscribe", {"symbols": [SBIN], "mode": "quote"}))["subscribed"]
    ack = await client.call("subscribe", {"symbols": [SBIN, INFY], "mode": "bars"})
    assert ack["subscribed"] == [SBIN]
    assert [(r["symbol"], r["code"]) for r in ack["rejected"]] == [(INFY, "too_many_subscriptions")]
