"""TickDecoder (quote Ticks made straight from the raw values) against Decoder + normalizer.

Hand-built frames for the edges the emulator never sends: a last price that drops to zero,
a negative quantity, prices and times that are zero or negative, a scale of 0, an update
that overwrites the topic's type, one longer than the field list, a snapshot without a last
price, a symbol not subscribed. For each, both paths must give equal Ticks and equal counts
and drop reasons; where the update is plain, the TickDecoder must have made the Tick itself.
test_hsm_oracle.py checks the same on the emulator's own frames.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from livews_common.models import Tick
from livews_marketdata.normalize import Normalizer
from livews_marketdata.upstream.hsm import protocol, ticks
from livews_marketdata.upstream.hsm.decode import INDEX_FIELDS, NULL, QUOTE_FIELDS, Decoder
from livews_marketdata.upstream.hsm.ticks import TickDecoder

TOPIC, SYMBOL = "sf|nse_cm|3045", "NSE:SBIN-EQ"
INDEX_TOPIC, INDEX = "if|nse_cm|Nifty 50", "NSE:NIFTY50-INDEX"
_N = len(QUOTE_FIELDS)


def _short(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def snapshot(
    values: dict[str, int],
    *,
    multiplier: int = 1,
    precision: int = 2,
    topic: str = TOPIC,
    topic_id: int = 7,
    fields: tuple[str, ...] = QUOTE_FIELDS,
) -> bytes:
    ints = [values.get(f, NULL) for f in fields]
    return (
        bytes([83]) + struct.pack("=H", topic_id) + _short(topic) + bytes([len(ints)])
        + struct.pack(f">{len(ints)}i", *ints) + b"\x00\x00"
        + struct.pack(">HB", multiplier, precision) + _short("NSE") + _short("3045")
        + _short("SBIN")
    )  # fmt: skip


def update(
    values: dict[str, int],
    *,
    count: int = _N,
    topic_id: int = 7,
    fields: tuple[str, ...] = QUOTE_FIELDS,
) -> bytes:
    ints = [values.get(fields[i], NULL) if i < len(fields) else NULL for i in range(count)]
    for key, value in values.items():  # "#21": a value by position (there: the type)
        if key.startswith("#"):
            ints[int(key[1:])] = value
    return bytes([85]) + struct.pack("=HB", topic_id, count) + struct.pack(f">{count}i", *ints)


def frame(*entries: bytes) -> bytes:
    body = struct.pack(">BIH", 6, 1, len(entries)) + b"".join(entries)
    return struct.pack(">H", len(body)) + body


FULL = {
    "ltp": 81235, "vol_traded_today": 1_000_000, "last_traded_time": 1_700_000_000,
    "exch_feed_time": 1_700_000_001, "bid_size": 120, "ask_size": 80, "bid_price": 81230,
    "ask_price": 81235, "last_traded_qty": 25, "tot_buy_qty": 450_000, "tot_sell_qty": 512_000,
    "avg_trade_price": 80910, "OI": 3, "low_price": 79000, "high_price": 82000, "Yhigh": 1,
    "Ylow": 1, "lower_ckt": 7, "upper_ckt": 9, "open_price": 80000, "prev_close_price": 80500,
}  # fmt: skip


def run(decoder: type[Decoder], frames: list[bytes], known: set[str]) -> tuple[Any, ...]:
    items: list[tuple[int, Any]] = []
    dec = decoder({TOPIC: SYMBOL, INDEX_TOPIC: INDEX}, lite=False,
                  on_message=lambda m: items.append((5, m)), on_error=lambda e: None,
                  send=lambda b: None, ack_frame=protocol.ack_frame)  # fmt: skip
    for f in frames:
        dec.feed(f)
    made = [isinstance(m, Tick) for _, m in items]
    normalizer = Normalizer()
    ticks, depth = normalizer.normalize(items, known, known)
    counts, drops = normalizer.take_counts()
    return ticks, depth, dict(counts), dict(drops), made


def same(
    frames: list[bytes], known: set[str] | None = None
) -> tuple[list[Tick], dict[str, int], list[bool]]:
    known = {SYMBOL, INDEX} if known is None else known
    plain, fused = run(Decoder, frames, known), run(TickDecoder, frames, known)
    assert fused[:4] == plain[:4]
    assert not any(plain[4])
    return fused[0], fused[3], fused[4]


def test_plain_updates_are_made_as_ticks_with_the_normalizers_values() -> None:
    ticks, drops, made = same([
        frame(snapshot(FULL)),
        frame(update({"ltp": 81240, "vol_traded_today": 1_000_025, "bid_size": 100}),
              update({"ltp": 81245, "prev_close_price": 81000, "ask_price": 81250}, count=21)),
        frame(update({"last_traded_time": 1_700_000_002, "exch_feed_time": 1_700_000_002,
                      "OI": 4, "Yhigh": 2, "lower_ckt": 1}),
              update({"high_price": 82100}, count=15)),
        frame(update({"ltp": 81245})),  # nothing changed: nothing handed over
    ])  # fmt: skip
    assert made == [True] * 5 and drops == {}
    last = ticks[-1]
    assert (last.ltp, last.high, last.prev_close, last.change, last.change_pct) == (
        812.45,
        821.0,
        810.0,
        2.45,
        0.3025,
    )
    assert (last.volume, last.bid_qty, last.ltt, last.exch_ts) == (
        1_000_025, 100, 1_700_000_002_000, 1_700_000_002_000)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ltp": 0}, "non_positive_price"),
        ({"ltp": -5}, "non_positive_price"),
        ({"tot_buy_qty": -1}, "negative_quantity"),
        ({"last_traded_qty": -7, "ltp": 81300}, "negative_quantity"),
    ],
)
def test_an_update_the_normalizer_refuses_is_handed_over_as_its_dict(
    change: dict[str, int], reason: str
) -> None:
    ticks, drops, made = same([
        frame(snapshot(FULL), update({"ltp": 81240})),
        frame(update(change)),
        frame(update({"ltp": 81500, "tot_buy_qty": 1, "last_traded_qty": 1})),
    ])  # fmt: skip
    assert made == [True, True, False, True]
    assert drops == {reason: 1} and ticks[-1].ltp == 815.0


def test_prices_and_times_not_positive_become_null() -> None:
    ticks, drops, made = same([
        frame(snapshot(FULL)),
        frame(update({"bid_price": 0, "ask_price": -3, "prev_close_price": 0,
                      "last_traded_time": 0, "exch_feed_time": -1, "ltp": 81300})),
        frame(update({"prev_close_price": 81000})),
    ])  # fmt: skip
    assert made == [True, True, True] and drops == {}
    t = ticks[1]
    assert (t.bid, t.ask, t.prev_close, t.change, t.change_pct, t.ltt, t.exch_ts) == (None,) * 7
    assert (ticks[2].change, ticks[2].change_pct) == (3.0, 0.3704)


def test_a_snapshot_without_a_last_price_then_one() -> None:
    no_ltp = {k: v for k, v in FULL.items() if k != "ltp"}
    ticks, drops, made = same([frame(snapshot(no_ltp)), frame(update({"ltp": 81000}))])
    assert made == [False, True] and drops == {"missing_ltp": 1} and len(ticks) == 1


def test_a_scale_of_zero() -> None:
    # No price in the snapshot: its dict is made (and refused: no last price); the update's
    # price cannot be scaled and ends the frame, in both.
    volume_only = {"vol_traded_today": 10}
    ticks, drops, made = same([
        frame(snapshot(volume_only, multiplier=0)),
        frame(update({"vol_traded_today": 11}), update({"ltp": 100}), update({"tot_buy_qty": 3})),
        frame(update({"tot_buy_qty": 4})),
    ])  # fmt: skip
    assert made == [False, False, False] and ticks == [] and drops == {"missing_ltp": 3}


def test_an_update_past_the_known_fields_or_overwriting_the_type() -> None:
    ticks, drops, made = same([
        frame(snapshot(FULL), update({"ltp": 81240})),
        frame(update({"ltp": 81250, "#21": 5}, count=_N)),  # "type" becomes a number
        frame(update({"ltp": 81260})),
    ])  # fmt: skip
    assert made[:2] == [True, True] and not made[2] and drops.get("unknown_type") == 2
    ticks, drops, made = same([
        frame(snapshot(FULL), update({"ltp": 81240}, count=_N + 2)),  # ends the frame
        frame(update({"ltp": 81250})),
    ])  # fmt: skip
    assert made == [True, True] and [t.ltp for t in ticks] == [812.35, 812.5]


def test_an_unsubscribed_symbol_is_dropped_as_before() -> None:
    ticks, drops, made = same([frame(snapshot(FULL), update({"ltp": 81240}))], known={INDEX})
    assert made == [True, True] and ticks == [] and drops == {"unknown_symbol": 2}


def test_index_updates_are_made_as_ticks_snapshots_stay_dicts() -> None:
    values = {"ltp": 2_000_000, "prev_close_price": 1_990_000, "exch_feed_time": 1_700_000_000}
    index: dict[str, Any] = {"topic_id": 9, "fields": INDEX_FIELDS, "count": 6}
    ticks, drops, made = same([
        frame(snapshot(values, topic=INDEX_TOPIC, topic_id=9, fields=INDEX_FIELDS)),
        frame(update({"ltp": 2_000_100}, **index)),
        frame(update({"ltp": 2_000_100, "high_price": 2_100_000}, **index)),
        frame(update({"ltp": 2_000_100}, **index)),  # no change
        # A previous close of 0: the SDK cannot compute the change and drops the update.
        frame(update({"prev_close_price": 0, "ltp": 2_000_200}, **index)),
        frame(update({"ltp": 0, "prev_close_price": 1_990_000}, **index)),
        frame(update({"ltp": 2_000_300, "open_price": -1}, **index)),
        frame(update({"ltp": 2_000_400}, **index), update({"ltp": 2_000_500}, topic_id=9,
              fields=INDEX_FIELDS, count=4)),
    ])  # fmt: skip
    # The snapshot, the refused update and the 4-value one are Decoder's dicts.
    assert made == [False, True, True, False, True, True, False]
    assert drops == {"non_positive_price": 1}
    assert [t.kind for t in ticks] == ["index"] * 6
    assert [t.ltp for t in ticks] == [20000.0, 20001.0, 20001.0, 20003.0, 20004.0, 20005.0]
    assert (ticks[2].high, ticks[3].open, ticks[3].prev_close, ticks[3].change) == (
        21000.0, None, 19900.0, 103.0)  # fmt: skip


def lite(ltp: int, topic_id: int = 7) -> bytes:
    return bytes([76]) + struct.pack("=H", topic_id) + struct.pack(">i", ltp)


def test_whole_updates_then_the_other_paths_see_their_values() -> None:
    # Whole (21-value) updates take TickDecoder's own path and keep the values as a tuple;
    # a shorter update, a longer one, a lite entry and a snapshot must each find the values
    # those updates left (a value never sent — "OI" here — staying unset), as in Decoder.
    no_oi = {k: v for k, v in FULL.items() if k != "OI"}
    ticks, drops, made = same([
        frame(snapshot(no_oi)),
        frame(update({"ltp": 81240, "vol_traded_today": 1_000_100}, count=21),
              update({"ltp": 81240}, count=21),  # nothing changed: nothing handed over
              update({"bid_size": 90, "tot_sell_qty": 600_000}, count=21)),
        frame(update({"high_price": 82500}, count=15)),  # Decoder's path: sees the above
        frame(update({"ltp": 81250, "low_price": 78000}, count=21),
              lite(81255),
              update({"ask_size": 70}, count=21)),
        frame(update({"ltp": 81260}, count=_N)),
        frame(snapshot(no_oi), update({"OI": 5, "ltp": 81270}, count=21)),
        frame(update({"vol_traded_today": 1_000_200}, count=21)),
    ])  # fmt: skip
    assert drops == {} and made == [True] * 11
    assert [t.ltp for t in ticks] == [
        812.35,
        812.4,
        812.4,
        812.4,
        812.5,
        812.55,
        812.55,
        812.6,
        812.35,
        812.7,
        812.7,
    ]
    assert [(t.volume, t.high, t.low, t.bid_qty, t.ask_qty, t.tot_sell_qty) for t in ticks[6:]] == [
        (1_000_100, 825.0, 780.0, 90, 70, 600_000),  # every path's values, kept
        (1_000_100, 825.0, 780.0, 90, 70, 600_000),
        (1_000_000, 820.0, 790.0, 120, 80, 512_000),  # the snapshot replaced them
        (1_000_000, 820.0, 790.0, 120, 80, 512_000),
        (1_000_200, 820.0, 790.0, 120, 80, 512_000),
    ]


def test_changes_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # The change of a (last, previous close, scale) is computed once, then looked up; the
    # memory is emptied when full. Either way the Ticks are the normalizer's.
    monkeypatch.setattr(ticks, "_CHANGES_KEPT", 3)
    ticks._changes.clear()
    prices = [81240, 81250, 81240, 81260, 81270, 81240, 81250]
    _, _, made = same([frame(snapshot(FULL))] + [frame(update({"ltp": p})) for p in prices])
    assert made == [True] * 8 and 1 <= len(ticks._changes) <= 3


def test_an_update_before_its_snapshot_then_after_it() -> None:
    # TickDecoder remembers what a topic id names, unknown ones too; only a snapshot changes
    # that. An update of an id no snapshot named yet is skipped (as in Decoder); once the
    # snapshot names it, its updates must be made.
    values = {"ltp": 2_000_000, "prev_close_price": 1_990_000, "exch_feed_time": 1_700_000_000}
    index: dict[str, Any] = {"topic_id": 9, "fields": INDEX_FIELDS, "count": 6}
    ticks, drops, made = same([
        frame(snapshot(FULL)),
        frame(update({"ltp": 2_000_100}, **index), update({"ltp": 81240}, count=21)),
        frame(snapshot(values, topic=INDEX_TOPIC, topic_id=9, fields=INDEX_FIELDS)),
        frame(update({"ltp": 2_000_200}, **index), update({"ltp": 81250}, count=21)),
    ])  # fmt: skip
    assert drops == {} and made == [True, True, False, True, True]
    assert [(t.symbol, t.ltp) for t in ticks] == [
        (SYMBOL, 812.35), (SYMBOL, 812.4), (INDEX, 20000.0), (INDEX, 20002.0), (SYMBOL, 812.5),
    ]  # fmt: skip
