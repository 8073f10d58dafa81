"""The compact encoding (``auth: {"format": "compact"}``, CONTRACT §3 v1.1).

The encoder against the shared vectors (docs/compact-vectors.json), then a real gateway,
Redis and python-socketio clients: a compact and a JSON client side by side must end up
with the same ticks, the compact one for far fewer bytes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from livews_common.compact import CompactDecoder
from livews_devtools.fleet_gateway import GatewayProcess, TokenMint, make_tick, publish_tick
from livews_gateway.compact import delta_row, key_row

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "docs" / "compact-vectors.json").read_text()
)
SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_the_encoder_writes_the_vectors(case: dict[str, Any]) -> None:
    last: dict[str, dict[str, Any]] = {}
    for row, tick in zip(case["rows"], case["ticks"], strict=True):
        previous = last.get(tick["symbol"])
        if isinstance(row[2], str):
            assert key_row(tick) == row
        else:
            assert previous is not None
            assert delta_row(previous, tick) == row
        last[tick["symbol"]] = tick


async def test_a_bad_format_is_refused(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    client = probes()
    error = await client.refused(
        gateway.url, None, auth={"token": token_mint.mint(), "format": "protobuf"}
    )
    assert error["data"] == {"code": "bad_request"}, error


def _wire(ticks: list[dict[str, Any]] | list[list[Any]]) -> int:
    return len(json.dumps(ticks, separators=(",", ":")))


async def test_compact_and_json_clients_see_the_same_ticks(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    await publish_tick(redis_client, make_tick(SBIN, 1, ltp=812.35))
    compact, plain, default = probes(), probes(), probes()
    await compact.connect(gateway.url, None, auth={"token": token_mint.mint(), "format": "compact"})
    await plain.connect(gateway.url, None, auth={"token": token_mint.mint(), "format": "json"})
    await default.connect(gateway.url, token_mint.mint())  # asks for nothing: JSON Tick v1
    for client in (compact, plain, default):
        ack = await client.call("subscribe", {"symbols": [SBIN, INFY]})
        assert ack["subscribed"] == [SBIN, INFY]
        await client.wait_event("snapshot")

    price = 812.35
    for seq in range(2, 42):
        price = round(price + (0.05 if seq % 3 else -0.1), 2)
        await publish_tick(redis_client, make_tick(SBIN, seq, ltp=price, volume=1000 + 7 * seq))
        await publish_tick(redis_client, make_tick(INFY, seq - 1, ltp=1500 + seq / 20))
        if seq % 10 == 0:
            await asyncio.sleep(0.05)
    for client in (plain, default):
        await client.wait_for(lambda c=client: len(c.ticks()) >= 80, "80 live ticks")
    await compact.wait_for(lambda: sum(len(f) for f in compact.of("ticks")) >= 80, "80 rows")

    decoder = CompactDecoder()
    snapshot = decoder.decode_all(compact.of("snapshot")[0]["ticks"])
    assert snapshot == default.of("snapshot")[0]["ticks"]
    decoded = [t for frame in compact.of("ticks") for t in decoder.decode_all(frame)]
    assert decoded == plain.ticks() == default.ticks()
    assert all(isinstance(t, dict) and t["v"] == 1 for t in default.ticks())
    rows = [r for frame in compact.of("ticks") for r in frame]
    keys = sum(isinstance(r[2], str) for r in rows)
    ratio = _wire(plain.ticks()) / _wire(rows)
    print(
        f"\nBOUND compact: {len(rows)} ticks ({keys} key rows) in {_wire(rows)} bytes of "
        f"payload vs {_wire(plain.ticks())} as JSON Tick v1: {ratio:.1f}x fewer"
    )
    assert keys == 2  # the first live tick of each symbol after subscribe
    assert ratio >= 4


async def test_an_unmodified_node_client_gets_json_tick_v1_next_to_a_compact_one(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any,
    node_clients: Any,
) -> None:  # fmt: skip
    compact = probes()
    await compact.connect(gateway.url, None, auth={"token": token_mint.mint(), "format": "compact"})
    await compact.call("subscribe", {"symbols": [SBIN]})
    node = await node_clients(gateway.url, token_mint.mint())  # auth: {token} only
    await node.wait_event("status")
    ack = await node.call("subscribe", {"symbols": [SBIN]})
    assert ack["subscribed"] == [SBIN]
    for seq in range(1, 4):
        await publish_tick(redis_client, make_tick(SBIN, seq))
    await node.wait_for(lambda: len(node.ticks(SBIN)) >= 3, "three ticks")
    await compact.wait_for(lambda: sum(len(f) for f in compact.of("ticks")) >= 3, "three rows")
    assert [t["seq"] for t in node.ticks(SBIN)] == [1, 2, 3]
    assert all(t["v"] == 1 and "ltp" in t for t in node.ticks(SBIN))
    assert all(isinstance(row, list) for frame in compact.of("ticks") for row in frame)
