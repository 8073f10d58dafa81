"""The normalizer: SDK dicts → Tick/Depth v1, bad updates dropped by reason (no network)."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livews_common.models import Depth, Tick, decode, encode
from livews_marketdata.normalize import Normalizer, Sequencer

SBIN = "NSE:SBIN-EQ"
NIFTY = "NSE:NIFTY50-INDEX"
KNOWN = {SBIN, NIFTY}

# What fyers-apiv3 3.2.0 handed on_message against the emulator (copied from a real run).
QUOTE: dict[str, Any] = {
    "ltp": 958.0, "vol_traded_today": 1215904, "last_traded_time": 1795649686,
    "exch_feed_time": 1795649686, "bid_size": 381, "ask_size": 256, "bid_price": 957.95,
    "ask_price": 958.0, "last_traded_qty": 175, "tot_buy_qty": 1830354, "tot_sell_qty": 204252,
    "avg_trade_price": 965.01, "low_price": 957.2, "high_price": 972.55, "lower_ckt": 0,
    "upper_ckt": 0, "open_price": 971.9, "prev_close_price": 970.0, "type": "sf",
    "symbol": SBIN, "ch": -12.0, "chp": -1.2371,
}  # fmt: skip
INDEX: dict[str, Any] = {
    "ltp": 25971.67, "prev_close_price": 26050.0, "ch": -78.33, "chp": -0.3,
    "exch_feed_time": 1795649686, "high_price": 26249.44, "low_price": 25956.78,
    "open_price": 26249.29, "type": "if", "symbol": NIFTY,
}  # fmt: skip
DEPTH: dict[str, Any] = {
    **{f"bid_price{i}": 958.15 - 0.05 * i for i in range(1, 6)},
    **{f"ask_price{i}": 958.15 + 0.05 * i for i in range(1, 6)},
    **{f"bid_size{i}": 100 * i for i in range(1, 6)},
    **{f"ask_size{i}": 90 * i for i in range(1, 6)},
    **{f"bid_order{i}": i for i in range(1, 6)},
    **{f"ask_order{i}": 2 * i for i in range(1, 6)},
    "type": "dp", "symbol": SBIN,
}  # fmt: skip


def run(*raws: object, quotes: set[str] = KNOWN) -> tuple[list[Tick], list[Depth], Normalizer]:
    n = Normalizer()
    ticks, depth = n.normalize(((1_700_000_000_123, raw) for raw in raws), quotes, {SBIN})
    return ticks, depth, n


def test_quote_maps_every_field() -> None:
    (tick,), _, _ = run(QUOTE)
    assert tick.kind == "quote" and tick.symbol == SBIN and tick.v == 1
    assert tick.ltp == 958.0 and tick.open == 971.9 and tick.high == 972.55
    assert tick.low == 957.2 and tick.prev_close == 970.0
    assert tick.change == -12.0 and tick.change_pct == -1.2371
    assert (tick.volume, tick.ltq, tick.avg_price) == (1215904, 175, 965.01)
    assert (tick.bid, tick.ask, tick.bid_qty, tick.ask_qty) == (957.95, 958.0, 381, 256)
    assert (tick.tot_buy_qty, tick.tot_sell_qty) == (1830354, 204252)
    # The SDK gives epoch seconds; the contract wants milliseconds.
    assert tick.ltt == tick.exch_ts == 1795649686000
    assert tick.ingest_ts == 1_700_000_000_123


def test_index_leaves_quote_fields_null() -> None:
    (tick,), _, _ = run(INDEX)
    assert tick.kind == "index" and tick.ltp == 25971.67
    assert tick.change == -78.33 and tick.change_pct == pytest.approx(-0.3007, abs=1e-4)
    doc = msgspec.json.decode(encode(tick))
    for key in ("volume", "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty",
                "tot_buy_qty", "tot_sell_qty", "ltt"):  # fmt: skip
        assert key in doc and doc[key] is None
    assert doc["exch_ts"] == 1795649686000


def test_every_contract_field_is_present() -> None:
    (tick,), _, _ = run({"type": "sf", "symbol": SBIN, "ltp": 10.5})
    doc = msgspec.json.decode(encode(tick))
    assert set(doc) == {
        "v", "symbol", "kind", "seq", "ltp", "open", "high", "low", "prev_close", "change",
        "change_pct", "volume", "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty",
        "tot_buy_qty", "tot_sell_qty", "ltt", "exch_ts", "ingest_ts",
    }  # fmt: skip
    assert all(doc[k] is None for k in doc if k not in {"v", "symbol", "kind", "seq", "ltp",
                                                        "ingest_ts"})  # fmt: skip


def test_zero_prices_other_than_ltp_are_null_not_zero() -> None:
    (tick,), _, _ = run({**QUOTE, "bid_price": 0.0, "prev_close_price": 0, "open_price": -1.0})
    assert tick.bid is None and tick.prev_close is None and tick.open is None
    assert tick.change is None and tick.change_pct is None


def test_depth_levels() -> None:
    _, (depth,), _ = run(DEPTH)
    assert depth.symbol == SBIN and len(depth.bids) == len(depth.asks) == 5
    assert depth.bids[0] == (pytest.approx(958.1), 100, 1)
    assert depth.asks[4] == (pytest.approx(958.4), 450, 10)
    partial = {k: v for k, v in DEPTH.items() if not k.endswith("5")}
    _, (depth,), _ = run({**partial, "bid_price2": 0})
    assert depth.bids[1] == (None, None, None) and depth.bids[4] == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({**QUOTE, "ltp": float("nan")}, "not_finite"),
        ({**QUOTE, "ltp": float("inf")}, "not_finite"),
        ({**QUOTE, "ltp": 0.0}, "non_positive_price"),
        ({**QUOTE, "ltp": -5}, "non_positive_price"),
        ({**QUOTE, "ltp": "958.0"}, "non_numeric"),
        ({**QUOTE, "ltp": True}, "non_numeric"),
        ({**QUOTE, "high_price": float("nan")}, "not_finite"),
        ({**QUOTE, "vol_traded_today": "12"}, "non_numeric"),
        ({**QUOTE, "vol_traded_today": -3}, "negative_quantity"),
        ({**QUOTE, "last_traded_qty": 2.5}, "non_integral"),
        ({**QUOTE, "vol_traded_today": 2**60}, "out_of_range"),
        ({k: v for k, v in QUOTE.items() if k != "ltp"}, "missing_ltp"),
        ({**QUOTE, "symbol": "NSE:UNKNOWN-EQ"}, "unknown_symbol"),
        ({**QUOTE, "symbol": None}, "unknown_symbol"),
        ({**QUOTE, "type": "zz"}, "unknown_type"),
        ({**DEPTH, "bid_price3": float("nan")}, "not_finite"),
        ({**DEPTH, "symbol": NIFTY}, "unknown_symbol"),  # no depth subscription for it
        ("garbage", "garbage"),
        (b"\x00\x01", "garbage"),
        (None, "garbage"),
    ],
)
def test_bad_updates_are_dropped_by_reason(raw: object, reason: str) -> None:
    ticks, depth, n = run(raw, QUOTE)
    assert [t.symbol for t in ticks] == [SBIN] and not depth  # the good one still goes
    _, drops = n.take_counts()
    assert drops == {reason: 1}


def test_counts_by_kind() -> None:
    _, _, n = run(QUOTE, INDEX, DEPTH, {"type": "zz"})
    counts, _ = n.take_counts()
    assert counts == {"quote": 1, "index": 1, "depth": 1, "garbage": 1}
    assert n.take_counts() == ({}, {})


def test_sequencer_is_per_symbol_and_continues_from_seed() -> None:
    seq = Sequencer()
    seq.seed({SBIN: 41}, {SBIN: 7})
    ticks, depth, _ = run(QUOTE, INDEX, QUOTE, DEPTH)
    seq.stamp(ticks, depth)
    assert [(t.symbol, t.seq) for t in ticks] == [(SBIN, 42), (NIFTY, 1), (SBIN, 43)]
    assert depth[0].seq == 8
    seq.seed({SBIN: 10, NIFTY: 100}, {})  # a seed never lowers a counter
    assert seq.ticks == {SBIN: 43, NIFTY: 100}


# -- hypothesis: whatever arrives, nothing raises and nothing invalid comes out --------------

_KEYS = sorted({*QUOTE, *INDEX, *DEPTH, "OI", "junk"})
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.sampled_from([SBIN, NIFTY, "sf", "if", "dp"]),
)
_raw = st.one_of(
    st.dictionaries(st.sampled_from(_KEYS), _values, max_size=len(_KEYS)),
    # Mostly-valid updates with a few fields replaced: the interesting boundary.
    st.builds(
        lambda base, bad: {**base, **bad},
        st.sampled_from([QUOTE, INDEX, DEPTH]),
        st.dictionaries(st.sampled_from(_KEYS), _values, max_size=4),
    ),
    _values,
)


def _valid_number(value: object) -> bool:
    return value is None or (type(value) in (int, float) and math.isfinite(value))  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.lists(_raw, max_size=6))
def test_any_input_gives_valid_output_or_a_counted_drop(raws: list[object]) -> None:
    ticks, depth, n = run(*raws)
    counts, drops = n.take_counts()
    assert sum(counts.values()) == len(raws)
    assert len(ticks) + len(depth) + sum(drops.values()) == len(raws)
    for tick in ticks:
        doc = msgspec.json.decode(encode(tick))
        decode(encode(tick), Tick)  # the strict wire model accepts it back
        assert doc["ltp"] > 0 and tick.symbol in KNOWN
        assert all(_valid_number(doc[k]) for k in doc if k not in ("v", "symbol", "kind"))
        for key in ("volume", "ltq", "bid_qty", "ask_qty", "ltt", "exch_ts"):
            assert doc[key] is None or (type(doc[key]) is int and 0 <= doc[key] < 2**53)
        for key in ("open", "high", "low", "prev_close", "bid", "ask", "avg_price"):
            assert doc[key] is None or doc[key] > 0
    for update in depth:
        decode(encode(update), Depth)
        for px, qty, orders in (*update.bids, *update.asks):
            assert px is None or (math.isfinite(px) and px > 0)
            assert qty is None or qty >= 0
            assert orders is None or orders >= 0
