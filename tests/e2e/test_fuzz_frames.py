"""The ingestor's whole frame path, fuzzed: HSM binary frames → the SDK's parser → normalizer.

services/marketdata/tests/test_normalize.py fuzzes the normalizer with dicts; here the input
is what arrives on the wire. Hypothesis builds data frames with the emulator's own encoder
(snapshots and updates of a quote, an index and a depth topic, with any int32 values,
the "no value" sentinel included), optionally corrupts their bytes, and mixes in the
emulator's garbage frames; they go through fyers-apiv3's parser (the ingestor's FeedSocket,
no network) and the ingestor's Normalizer and Sequencer. Whatever comes out must be
contract-clean (CONTRACT §4) or dropped; nothing may raise.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fyers_emulator.hsm import protocol
from fyers_emulator.market import DEPTH_FIELDS, INDEX_FIELDS, QUOTE_FIELDS
from fyers_emulator.universe import INSTRUMENTS
from livews_common.models import Depth, Tick, decode, encode
from livews_marketdata.normalize import Normalizer, Sequencer
from livews_marketdata.upstream.sdk import FeedSocket

SBIN = next(i for i in INSTRUMENTS if i.symbol == "NSE:SBIN-EQ")
NIFTY = next(i for i in INSTRUMENTS if i.symbol == "NSE:NIFTY50-INDEX")
NO_VALUE = -2147483648
SEEN: Counter[str] = Counter()


def _codec(topic_id: int, topic: str, fields: int) -> protocol.TopicCodec:
    inst = SBIN if "3045" in topic else NIFTY
    return protocol.TopicCodec(topic_id, topic, fields, inst.exchange, inst.exchange_token,
                               inst.ticker)  # fmt: skip


assert SBIN.depth_topic is not None
CODECS = {
    "quote": (_codec(1, SBIN.quote_topic, QUOTE_FIELDS), QUOTE_FIELDS),
    "index": (_codec(3, NIFTY.quote_topic, INDEX_FIELDS), INDEX_FIELDS),
    "depth": (_codec(2, SBIN.depth_topic, DEPTH_FIELDS), DEPTH_FIELDS),
}
SYMBOL_OF = {SBIN.quote_topic: SBIN.symbol, SBIN.depth_topic: SBIN.symbol,
             NIFTY.quote_topic: NIFTY.symbol}  # fmt: skip

int32 = st.one_of(
    st.integers(1, 10_000_000),  # plausible paise, sizes and times
    st.integers(-(2**31) + 1, 2**31 - 1),
    st.sampled_from([NO_VALUE, 0, -1, 1, 2**31 - 1]),
)


@st.composite
def entries(draw: st.DrawFn) -> bytes:
    topic = draw(st.sampled_from(sorted(CODECS)))
    codec, fields = CODECS[topic]
    # Mostly plausible vectors (so whole updates get through), some anything-goes ones.
    plausible = st.one_of(st.integers(1, 10_000_000), st.just(NO_VALUE))
    element = draw(st.sampled_from([plausible, plausible, int32]))
    values = tuple(draw(st.lists(element, min_size=fields, max_size=fields)))
    return codec.snapshot(values) if draw(st.booleans()) else codec.update(values)


@st.composite
def wire(draw: st.DrawFn) -> list[bytes | str]:
    """Data frames (some corrupted) with the emulator's garbage frames mixed in."""
    frames: list[bytes | str] = list(
        protocol.data_frames(
            draw(st.integers(0, 2**32 - 1)), draw(st.lists(entries(), max_size=12))
        )
    )
    for i, frame in enumerate(frames):
        if isinstance(frame, bytes) and frame and draw(st.booleans()):
            cut = draw(st.integers(0, len(frame) - 1))
            flip = bytes([frame[cut] ^ draw(st.integers(1, 255))])
            frames[i] = draw(st.sampled_from([frame[:cut], frame[:cut] + flip + frame[cut + 1 :]]))
    rng = random.Random(draw(st.integers(0, 2**16)))
    garbage = protocol.garbage(rng, draw(st.integers(0, 6)))
    return draw(st.permutations(frames + garbage))


@pytest.fixture(scope="module")
def socket_and_output(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FeedSocket, list[Any]]]:
    out: list[Any] = []
    sock = FeedSocket(
        access_token="DEVAPP0001-100:fuzz", url="ws://127.0.0.1:9/unused",
        log_path=str(tmp_path_factory.mktemp("sdk-log")), on_message=out.append,
        on_error=out.append, on_close=out.append,
    )  # fmt: skip
    yield sock, out


def _strict_json(data: bytes) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in {data!r}")

    doc: dict[str, Any] = json.loads(data, parse_constant=refuse)
    return doc


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _check_tick(tick: Tick) -> None:
    doc = _strict_json(encode(tick))
    assert set(doc) == {f.name for f in msgspec.structs.fields(Tick)}
    assert doc["symbol"] in (SBIN.symbol, NIFTY.symbol)
    assert doc["kind"] == ("index" if doc["symbol"] == NIFTY.symbol else "quote")
    assert _is_number(doc["ltp"]) and doc["ltp"] > 0
    for name in ("open", "high", "low", "prev_close", "avg_price", "bid", "ask"):
        assert doc[name] is None or (_is_number(doc[name]) and doc[name] > 0), (name, doc)
    for name in ("volume", "ltq", "bid_qty", "ask_qty", "tot_buy_qty", "tot_sell_qty"):
        assert doc[name] is None or (type(doc[name]) is int and doc[name] >= 0), (name, doc)
    for name in ("ltt", "exch_ts", "ingest_ts"):
        assert doc[name] is None or (type(doc[name]) is int and doc[name] > 0), (name, doc)
    for name in ("change", "change_pct"):
        assert doc[name] is None or _is_number(doc[name]), (name, doc)
    if doc["kind"] == "index":
        assert all(doc[n] is None for n in ("volume", "bid", "ask", "bid_qty", "avg_price"))
    assert decode(encode(tick), Tick) == tick


def _check_depth(depth: Depth) -> None:
    doc = _strict_json(encode(depth))
    assert doc["symbol"] == SBIN.symbol
    for side in (doc["bids"], doc["asks"]):
        assert len(side) == 5
        for px, qty, orders in side:
            if px is None:
                assert qty is None and orders is None
            else:
                assert _is_number(px) and px > 0
                assert all(v is None or (type(v) is int and v >= 0) for v in (qty, orders))


@settings(
    max_examples=150, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(frames=wire())
def test_frames_from_the_wire_come_out_contract_clean_or_not_at_all(
    socket_and_output: tuple[FeedSocket, list[Any]], frames: list[bytes | str]
) -> None:
    sock, out = socket_and_output
    sock.symbol_token = dict(SYMBOL_OF)
    out.clear()
    for frame in frames:
        sock._FyersDataSocket__response_msg(frame if isinstance(frame, str) else bytearray(frame))
    normalizer, sequencer = Normalizer(), Sequencer()
    symbols = {SBIN.symbol, NIFTY.symbol}
    ticks, depth = normalizer.normalize(
        ((1_795_000_000_000, raw) for raw in out), symbols, {SBIN.symbol}
    )
    sequencer.stamp(ticks, depth)
    last: dict[str, int] = {}
    for tick in ticks:
        _check_tick(tick)
        assert tick.seq > last.get(tick.symbol, 0)
        last[tick.symbol] = tick.seq
    for update in depth:
        _check_depth(update)
    SEEN["ticks"] += len(ticks)
    SEEN["depth"] += len(depth)
    counts, drops = normalizer.take_counts()
    SEEN.update({f"dropped {k}": v for k, v in drops.items()})
    assert sum(counts.values()) == len(out), (counts, out)
    assert len(ticks) + len(depth) + sum(drops.values()) == len(out), (drops, out)


def test_the_fuzzer_reached_the_normalizer() -> None:
    # Runs after the fuzz test (file order): the corpus produced real ticks and depth, and
    # drops of several kinds, so the properties above were not checked on nothing.
    print(f"\nFUZZ frame path: {dict(SEEN)}")
    assert SEEN["ticks"] > 50 and SEEN["depth"] > 10, SEEN
    assert len([k for k in SEEN if k.startswith("dropped")]) >= 2, SEEN
