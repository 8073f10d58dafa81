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

import struct
from collections.abc import Callable, Sequence
from typing import Any

from livews_common.models import Tick
from livews_marketdata.normalize import BadUpdate, quote_tick
from livews_marketdata.upstream.hsm.decode import NULL, QUOTE_FIELDS, Decoder

#: ``_out`` holds this for a topic whose newest value exists only as a Tick.
_NOT_MADE: dict[str, Any] = {}
#: What a Tick made here is copied from (every field is then set): msgspec's copy, in C.
_BLANK = Tick(symbol="", kind="quote", seq=0, ltp=1.0, ingest_ts=0)
_copy: Callable[[Tick], Tick] = Tick.__copy__  # type: ignore[attr-defined]
#: A quote's values (the SDK's and the emulator's full update carries these 21).
_FIELDS = QUOTE_FIELDS[:21]
_VALUES = struct.Struct(f">{len(_FIELDS)}i")
_TOPIC_ID = struct.Struct("=H")


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
    """
    symbol = raw["symbol"]
    if raw["type"] != "sf" or type(symbol) is not str:
        return None
    get = raw.get
    return _made(symbol, (10 ** raw["precision"]) * raw["multiplier"], [get(f) for f in _FIELDS])


def _made(symbol: str, scale: int, values: Sequence[int | None]) -> Tick | None:
    """The Tick of a quote's first 21 raw values (``QUOTE_FIELDS`` order; None: absent).

    None in the cases :func:`_quote` names. Prices: raw / scale, ``None`` unless positive;
    quantities as they are; times: seconds (a positive 32-bit value) to milliseconds, else
    ``None``; change as the normalizer has it.
    """
    (ltp, volume, ltt, exch_ts, bid_qty, ask_qty, bid, ask, ltq, buy, sell, avg, _oi, low,
     high, _yhigh, _ylow, _lower, _upper, opened, prev) = values  # fmt: skip
    if scale == 0 or ltp is None or ltp <= 0:
        return None
    for count in (volume, ltq, bid_qty, ask_qty, buy, sell):
        if count is not None and count < 0:
            return None
    tick = _copy(_BLANK)
    tick.symbol = symbol
    tick.ltp = last = ltp / scale
    tick.volume, tick.ltq, tick.bid_qty, tick.ask_qty = volume, ltq, bid_qty, ask_qty
    tick.tot_buy_qty, tick.tot_sell_qty = buy, sell
    tick.open = opened / scale if opened is not None and opened > 0 else None
    tick.high = high / scale if high is not None and high > 0 else None
    tick.low = low / scale if low is not None and low > 0 else None
    tick.avg_price = avg / scale if avg is not None and avg > 0 else None
    tick.bid = bid / scale if bid is not None and bid > 0 else None
    tick.ask = ask / scale if ask is not None and ask > 0 else None
    tick.ltt = ltt * 1000 if ltt is not None and ltt > 0 else None
    tick.exch_ts = exch_ts * 1000 if exch_ts is not None and exch_ts > 0 else None
    if prev is not None and prev > 0:
        tick.prev_close = close = prev / scale
        tick.change = change = round(last - close, 4)
        tick.change_pct = round(change / close * 100, 4)
    else:
        tick.prev_close = tick.change = tick.change_pct = None
    return tick


class _Quote:
    """A quote topic's 21 values while only the fast path changes them (see ``_update``)."""

    __slots__ = ("raw", "scale", "symbol", "values")

    def __init__(self, raw: dict[str, Any], symbol: str) -> None:
        self.raw = raw  # the Decoder's raw values of the topic, behind by ``values``
        self.symbol = symbol
        self.scale: int = (10 ** raw["precision"]) * raw["multiplier"]
        self.values: tuple[int | None, ...] = tuple(map(raw.get, _FIELDS))

    def flush(self) -> None:
        """Bring the raw values up to date (a value never set stays unset)."""
        self.raw.update(
            [(k, v) for k, v in zip(_FIELDS, self.values, strict=True) if v is not None]
        )


class TickDecoder(Decoder):
    """Hands full-mode quotes over as :class:`Tick` (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._quotes: dict[str, _Quote] = {}  # topic name → its values, newer than ``_raw``

    def _update(self, data: bytes, offset: int) -> int:
        """A whole quote update (21 values) goes from its values straight to a Tick.

        The fast path keeps a quote topic's 21 values as one tuple (:class:`_Quote`): a null
        value keeps the value before it (or its absence), as in :meth:`Decoder._update`,
        whether one changed is one comparison, and the Tick is made from the values. The
        Decoder's raw values of the topic are brought up to date (and the tuple dropped)
        before any other path reads them; a snapshot replaces them, which drops the tuple.
        Anything else — another count, an index or depth topic, lite mode, a Tick that
        cannot be made — is left, untouched, to :meth:`Decoder._update`.
        """
        end = offset + 3 + 4 * len(_FIELDS)
        if end > len(data) or data[offset + 2] != len(_FIELDS) or self.lite:
            return self._fallback(data, offset)
        name = self._by_id["sf"].get(_TOPIC_ID.unpack_from(data, offset)[0])
        if name is None:
            return super()._update(data, offset)
        raw = self._raw[name]
        quote = self._quotes.get(name)
        if quote is None or quote.raw is not raw:
            symbol = raw["symbol"]
            if raw["type"] != "sf" or type(symbol) is not str:
                return super()._update(data, offset)
            quote = self._quotes[name] = _Quote(raw, symbol)
        values: tuple[int | None, ...] = _VALUES.unpack_from(data, offset + 3)
        nulls = values.count(NULL)
        if nulls:
            merged, before, index = list(values), quote.values, -1
            for _ in range(nulls):
                index = merged.index(NULL, index + 1)
                merged[index] = before[index]
            values = tuple(merged)
        if values == quote.values:
            return end  # nothing changed: nothing handed over (as the SDK)
        tick = _made(quote.symbol, quote.scale, values)
        if tick is None:
            return self._fallback(data, offset)
        quote.values = values
        self._out[name] = _NOT_MADE
        self._on_message(tick)
        return end

    def _settle(self, data: bytes, offset: int) -> None:
        """Before another path reads the raw values of the quote topic at ``offset``."""
        name = self._by_id["sf"].get(_TOPIC_ID.unpack_from(data, offset)[0])
        quote = self._quotes.pop(name, None) if name is not None else None
        if quote is not None and name is not None and quote.raw is self._raw.get(name):
            quote.flush()

    def _fallback(self, data: bytes, offset: int) -> int:
        if self._quotes and offset + 2 <= len(data):
            self._settle(data, offset)
        return super()._update(data, offset)

    def _lite_update(self, data: bytes, offset: int) -> int:
        if self._quotes and offset + 2 <= len(data):
            self._settle(data, offset)
        return super()._lite_update(data, offset)

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
