"""A :class:`Decoder` whose quote updates come out as Tick v1, not as SDK dicts.

The ingestor's hot path. :class:`Decoder` hands over, for every quote (``sf``) update, the
dict the SDK would (a copy of the topic's last dict with the changed fields redone), and the
normalizer then reads that dict field by field into a :class:`Tick`, which checks every
float again. :class:`TickDecoder` makes the Tick of a full-mode quote update straight from
the topic's raw integers instead (:func:`_quote`): no dict, no second finite-check (a 32-bit
integer divided by a non-zero scale is always finite, and only positive prices are kept).

Only the plain case takes that path: a non-zero scale, a positive last price, no negative
quantity, the topic's type and symbol intact. Anything else is handed over as the very dict
:class:`Decoder` makes, so the normalizer refuses or accepts it exactly as before, with the
same drop reason. Snapshots are made as dicts and, when the normalizer would accept them,
handed over as its Tick; indices, depth and lite mode are always dicts.

A Tick handed over has ``seq`` 0 and ``ingest_ts`` 0: the normalizer stamps the receive time
and checks that the symbol is subscribed, the sequencer assigns ``seq`` — as for a dict.
Nothing here changes a Tick once handed over. tests/test_hsm_oracle.py checks that this
class, and :class:`Decoder` followed by the normalizer, give equal Ticks and drop counts for
every frame the SDK-oracle sessions record (each fault of the emulator included), and
test_tick_decoder.py checks each edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livews_common.models import Tick
from livews_marketdata.normalize import BadUpdate, quote_tick
from livews_marketdata.upstream.hsm.decode import Decoder

#: ``_out`` holds this for a topic whose newest value exists only as a Tick.
_NOT_MADE: dict[str, Any] = {}
#: What a Tick made here is copied from (every field is then set): msgspec's copy, in C.
_BLANK = Tick(symbol="", kind="quote", seq=0, ltp=1.0, ingest_ts=0)
_copy: Callable[[Tick], Tick] = Tick.__copy__  # type: ignore[attr-defined]


def _to_tick(message: dict[str, Any]) -> Tick | None:
    """The normalizer's Tick of a quote dict, or None if it would refuse it."""
    symbol = message.get("symbol")
    if message.get("type") != "sf" or type(symbol) is not str:
        return None
    try:
        tick: Tick = quote_tick(message, symbol, 0)
    except (BadUpdate, ValueError, TypeError, ArithmeticError):
        return None
    return tick


def _quote(raw: dict[str, Any]) -> Tick | None:
    """``quote_tick`` of the dict :class:`Decoder` makes of ``raw`` — or None.

    None when the topic's scale is 0 (a division would fail), its type or symbol is not a
    quote's (a malformed update overwrote them), its last price is missing or not positive,
    or a quantity is negative: the dict is handed over then, and the normalizer decides.
    Prices: raw / scale, ``None`` unless positive; quantities as they are; times: seconds (a
    positive 32-bit value) to milliseconds, else ``None``; change as the normalizer has it.
    """
    scale = (10 ** raw["precision"]) * raw["multiplier"]
    symbol, ltp = raw["symbol"], raw.get("ltp")
    if scale == 0 or raw["type"] != "sf" or type(symbol) is not str or ltp is None or ltp <= 0:
        return None
    get = raw.get
    volume, ltq = get("vol_traded_today"), get("last_traded_qty")
    bid_qty, ask_qty = get("bid_size"), get("ask_size")
    buy, sell = get("tot_buy_qty"), get("tot_sell_qty")
    for count in (volume, ltq, bid_qty, ask_qty, buy, sell):
        if count is not None and count < 0:
            return None
    tick = _copy(_BLANK)
    tick.symbol = symbol
    tick.ltp = last = ltp / scale
    tick.volume, tick.ltq, tick.bid_qty, tick.ask_qty = volume, ltq, bid_qty, ask_qty
    tick.tot_buy_qty, tick.tot_sell_qty = buy, sell
    tick.open, tick.high, tick.low, tick.avg_price, tick.bid, tick.ask = [
        v / scale if v is not None and v > 0 else None
        for v in (get("open_price"), get("high_price"), get("low_price"),
                  get("avg_trade_price"), get("bid_price"), get("ask_price"))
    ]  # fmt: skip
    v = get("last_traded_time")
    tick.ltt = v * 1000 if v is not None and v > 0 else None
    v = get("exch_feed_time")
    tick.exch_ts = v * 1000 if v is not None and v > 0 else None
    v = get("prev_close_price")
    if v is not None and v > 0:
        tick.prev_close = prev = v / scale
        tick.change = change = round(last - prev, 4)
        tick.change_pct = round(change / prev * 100, 4)
    else:
        tick.prev_close = tick.change = tick.change_pct = None
    return tick


class TickDecoder(Decoder):
    """Hands full-mode quotes over as :class:`Tick` (see the module docstring)."""

    def _hand(self, kind: str, name: str, message: dict[str, Any]) -> None:
        if kind == "sf" and not self.lite:
            tick = _to_tick(message)
            if tick is not None:
                self._on_message(tick)
                return
        self._on_message(message)

    def _emit_changes(
        self,
        kind: str,
        raw: dict[str, Any],
        name: str,
        last: dict[str, Any],
        changes: list[tuple[str, int]],
    ) -> None:
        if kind == "sf":
            tick = _quote(raw)
            if tick is not None:
                self._out[name] = _NOT_MADE
                self._on_message(tick)
                return
            if last is _NOT_MADE:
                # The dict of the update is that of the whole topic (made in full: its scale
                # is not 0, a Tick was made of it), for the normalizer to judge.
                self._emit(kind, raw, name)
                return
        super()._emit_changes(kind, raw, name, last, changes)
