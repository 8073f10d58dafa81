"""Per-subscription throttling (``subscribe`` with ``max_hz``, CONTRACT §3 v1.1).

A real gateway process, Redis and python-socketio client: ticks are published faster than
the client asked for, and what it receives is timed against when each was published.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from typing import Any

import pytest

from livews_devtools.fleet_gateway import GatewayProcess, TokenMint, make_tick, publish_tick

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"
#: Timer and scheduling noise allowed on top of the 250 ms bound (a shared 2-core machine).
SLACK = 0.15


@pytest.mark.parametrize("value", [0, -1, 0.01, 1e9, "4", True, [4], {"hz": 4}])
async def test_a_bad_max_hz_is_a_bad_request(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any, value: object
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN], "max_hz": value})
    assert ack["ok"] is False and ack["code"] == "bad_request", ack
    assert "max_hz" in ack["message"]
    # The socket stays up and a good call still works.
    ack = await client.call("subscribe", {"symbols": [SBIN], "max_hz": 4})
    assert ack == {"ok": True, "subscribed": [SBIN], "rejected": []}


def _max_in_window(stamps: list[float], window: float) -> int:
    """The most stamps in any half-open window [t, t + window) starting at a stamp."""
    return max(
        (bisect.bisect_left(stamps, t + window) - i for i, t in enumerate(stamps)), default=0
    )


async def test_max_hz_4_caps_the_rate_and_keeps_the_latest_value_fresh(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    ack = await client.call("subscribe", {"symbols": [SBIN], "max_hz": 4})
    assert ack["subscribed"] == [SBIN]
    ack = await client.call("subscribe", {"symbols": [INFY]})  # full rate
    assert ack["subscribed"] == [INFY]
    await client.wait_event("snapshot", count=2)

    # 20 updates a second of each symbol for 4 s.
    published: list[tuple[int, float]] = []
    rate, seconds = 20, 4.0
    start = time.monotonic()
    for seq in range(1, int(rate * seconds) + 1):
        await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        await publish_tick(redis_client, make_tick(SBIN, seq, ltp=100 + seq / 100))
        await publish_tick(redis_client, make_tick(INFY, seq))
        published.append((seq, time.monotonic()))
    last = published[-1][0]
    await client.wait_for(lambda: client.ticks(SBIN)[-1]["seq"] == last, "SBIN's last tick")
    await client.wait_for(lambda: client.ticks(INFY)[-1]["seq"] == last, "INFY's last tick")

    # When each SBIN tick arrived, and the seq the client then held.
    arrivals: list[tuple[float, int]] = []
    for (event, data), stamp in zip(client.events, client.stamps, strict=True):
        if event == "ticks":
            arrivals += [(stamp, t["seq"]) for t in data if t["symbol"] == SBIN]
    stamps = [t for t, _ in arrivals]
    seqs = [s for _, s in arrivals]
    assert seqs == sorted(set(seqs)), "seq must strictly increase"
    # The gateway spaces its writes of a symbol at least 1/max_hz apart; what the client can
    # see are arrival times, which the machine's scheduling jitters (an update written 250 ms
    # after the previous one can arrive a little sooner after it). Count in windows shortened
    # by the same slack the freshness bound allows.
    most = _max_in_window(stamps, 1.0 - SLACK)
    # Staleness: how long after a tick was published the client first held it (or newer).
    stale = 0.0
    for seq, at in published:
        i = bisect.bisect_left(seqs, seq)
        stale = max(stale, stamps[i] - at)
    full = [t["seq"] for t in client.ticks(INFY)]
    print(
        f"\nBOUND max_hz=4: {len(seqs)} SBIN updates in {seconds:g}s of {rate}/s; "
        f"most in any {1 - SLACK:g} s window {most}; "
        f"latest value at most {stale * 1000:.0f} ms old; "
        f"unthrottled INFY got {len(full)}/{last}"
    )
    assert most <= 4
    assert len(seqs) >= seconds * 4 - 2, "throttled below the asked rate"
    assert stale <= 0.25 + SLACK
    assert full == list(range(1, last + 1)), "the unthrottled symbol must get every tick"


async def test_subscribing_again_without_max_hz_restores_the_full_rate(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    client = probes()
    await client.connect(gateway.url, token_mint.mint())
    await client.call("subscribe", {"symbols": [SBIN], "max_hz": 0.5})
    await client.wait_event("snapshot")
    await client.call("subscribe", {"symbols": [SBIN]})
    for seq in range(1, 6):
        await publish_tick(redis_client, make_tick(SBIN, seq))
    await client.wait_for(lambda: len(client.ticks(SBIN)) == 5, "five ticks at full rate", 5)
