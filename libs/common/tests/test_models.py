"""Tick v1 / Depth v1 / status on the wire: exact shape, nulls, and refusals."""

from __future__ import annotations

import json
import math

import pytest

from livews_common.models import (
    Depth,
    Status,
    Tick,
    TickHead,
    WireError,
    decode,
    encode,
    to_builtins,
)

TICK_FIELDS = [
    "v", "symbol", "kind", "seq", "ltp", "open", "high", "low", "prev_close", "change",
    "change_pct", "volume", "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty",
    "tot_buy_qty", "tot_sell_qty", "ltt", "exch_ts", "ingest_ts",
]  # fmt: skip


def index_tick(**over: object) -> Tick:
    fields: dict[str, object] = {
        "symbol": "NSE:NIFTY50-INDEX", "kind": "index", "seq": 7, "ltp": 24310.55,
        "open": 24200.0, "high": 24350.1, "low": 24150.25, "prev_close": 24190.0,
        "change": 120.55, "change_pct": 0.5, "exch_ts": 1764100000000, "ingest_ts": 1764100000012,
    }  # fmt: skip
    fields.update(over)
    return Tick(**fields)  # type: ignore[arg-type]


def test_tick_round_trips_with_nulls_and_every_field_present() -> None:
    tick = index_tick()
    raw = encode(tick)
    doc = json.loads(raw)
    assert list(doc) == TICK_FIELDS
    assert doc["bid"] is None and doc["volume"] is None and doc["ltt"] is None
    assert doc["v"] == 1 and isinstance(doc["ingest_ts"], int)
    assert decode(raw, Tick) == tick
    assert to_builtins(tick) == doc


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_decode_refuses_nan_and_infinities(literal: str) -> None:
    raw = encode(index_tick()).replace(b"24310.55", literal.encode())
    with pytest.raises(WireError, match="Tick"):
        decode(raw, Tick)


@pytest.mark.parametrize("field", ["ltp", "bid", "change_pct"])
def test_construction_refuses_nan_and_infinities(field: str) -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=field):
            index_tick(**{field: bad})


def test_decode_refuses_numeric_strings_with_the_field_named() -> None:
    raw = encode(index_tick()).replace(b"24310.55", b'"24310.55"')
    with pytest.raises(WireError, match=r"\$\.ltp"):
        decode(raw, Tick)


def test_decode_refuses_missing_fields_and_wrong_version() -> None:
    doc = json.loads(encode(index_tick()))
    del doc["seq"]
    with pytest.raises(WireError, match="seq"):
        decode(json.dumps(doc), Tick)
    doc = json.loads(encode(index_tick()))
    doc["v"] = 2
    with pytest.raises(WireError):
        decode(json.dumps(doc), Tick)


def test_non_positive_price_is_refused() -> None:
    with pytest.raises(ValueError, match="ltp"):
        index_tick(ltp=0.0)


def test_tick_head_reads_only_what_a_relay_needs() -> None:
    head = decode(encode(index_tick()), TickHead)
    assert (head.symbol, head.seq, head.ingest_ts) == ("NSE:NIFTY50-INDEX", 7, 1764100000012)


def test_depth_needs_five_levels_a_side() -> None:
    level = (812.3, 100, 3)
    depth = Depth(symbol="NSE:SBIN-EQ", seq=1, bids=[level] * 5, asks=[level] * 5, ingest_ts=1)
    assert decode(encode(depth), Depth) == depth
    with pytest.raises(ValueError, match="5 levels"):
        Depth(symbol="NSE:SBIN-EQ", seq=1, bids=[level] * 4, asks=[level] * 5, ingest_ts=1)


def test_status_shape() -> None:
    doc = json.loads(encode(Status(upstream="down", ts=1, symbols=0, reason="no feed token")))
    assert doc == {"upstream": "down", "ts": 1, "symbols": 0, "reason": "no feed token",
                   "market": None}  # fmt: skip
    st = Status(upstream="up", ts=1, market="pre_open")
    assert decode(encode(st), Status) == st
    assert decode(b'{"upstream": "up", "ts": 1}', Status).market is None  # a v1 writer
    with pytest.raises(WireError):
        decode(b'{"upstream": "sideways", "ts": 1}', Status)
    with pytest.raises(WireError):
        decode(b'{"upstream": "up", "ts": 1, "market": "lunch"}', Status)
