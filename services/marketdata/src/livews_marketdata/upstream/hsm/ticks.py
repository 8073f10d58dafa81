"""A :class:`Decoder` whose quote and index updates come out as Tick v1, not as SDK dicts.

The ingestor's hot path. :class:`Decoder` hands over, for every quote (``sf``) update, the
dict the SDK would (a copy of the topic's last dict with the changed fields redone), and the
normalizer then reads that dict field by field into a :class:`Tick`, which checks every
float again. :class:`TickDecoder` makes the Tick straight from the topic's raw integers
instead: no dict, no second finite-check (a 32-bit integer divided by a non-zero scale is
always finite, and only positive prices are kept).

A whole update (all 21 values of a quote, all 6 of an index: what the SDK and the emulator
send) takes the fastest path: the topic's values are kept as one tuple, a null value keeps
the one before it, one comparison tells whether anything changed, and the Tick is made from
the tuple (:func:`_made`, :func:`_index_made`); the Decoder's raw values of the topic are
brought up to date only when another path is about to read them. Other quote updates are
made from the raw values after :class:`Decoder` has applied them (:func:`_quote`).

Only the plain case takes those paths: a non-zero scale, a positive last price, no negative
quantity (for an index: a previous close that is not 0), the topic's type and symbol intact.
Anything else is handed over as the very dict :class:`Decoder` makes, so the normalizer
refuses or accepts it exactly as before, with the same drop reason. Snapshots are made as
dicts and, for quotes the normalizer would accept, handed over as its Tick; index
snapshots, depth and lite mode are always dicts.

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
from typing import Any, NamedTuple

from livews_common.models import Tick
from livews_marketdata.normalize import BadUpdate, quote_tick
from livews_marketdata.upstream.hsm.decode import INDEX_FIELDS, NULL, QUOTE_FIELDS, Decoder

#: ``_out`` holds this for a topic whose newest value exists only as a Tick.
_NOT_MADE: dict[str, Any] = {}
#: What a Tick made here is copied from (every field is then set): msgspec's copy, in C.
_BLANK = Tick(symbol="", kind="quote", seq=0, ltp=1.0, ingest_ts=0)
_copy: Callable[[Tick], Tick] = Tick.__copy__  # type: ignore[attr-defined]
_BLANK_INDEX = Tick(symbol="", kind="index", seq=0, ltp=1.0, ingest_ts=0)
#: A quote's values (the SDK's and the emulator's full update carries these 21).
_FIELDS = QUOTE_FIELDS[:21]
_INDEX_VALUES = INDEX_FIELDS[:6]
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


#: (last, previous close, scale) → (change, change %): ``round`` costs more than the rest of
#: a Tick's fields, and a price and its previous close come back again and again.
_changes: dict[tuple[int, int, int], tuple[float, float]] = {}
_CHANGES_KEPT = 50_000


def _change(ltp: int, prev: int, scale: int) -> tuple[float, float]:
    """The normalizer's change (4 decimals) and change % of raw ``ltp`` over ``prev``."""
    close = prev / scale
    change = round(ltp / scale - close, 4)
    pair = change, round(change / close * 100, 4)
    if len(_changes) >= _CHANGES_KEPT:
        _changes.clear()
    _changes[(ltp, prev, scale)] = pair
    return pair


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
    if (
        (volume is not None and volume < 0) or (ltq is not None and ltq < 0)
        or (bid_qty is not None and bid_qty < 0) or (ask_qty is not None and ask_qty < 0)
        or (buy is not None and buy < 0) or (sell is not None and sell < 0)
    ):  # fmt: skip
        return None
    tick = _copy(_BLANK)
    tick.symbol = symbol
    tick.ltp = ltp / scale
    tick.volume = volume
    tick.ltq = ltq
    tick.bid_qty = bid_qty
    tick.ask_qty = ask_qty
    tick.tot_buy_qty = buy
    tick.tot_sell_qty = sell
    tick.open = opened / scale if opened is not None and opened > 0 else None
    tick.high = high / scale if high is not None and high > 0 else None
    tick.low = low / scale if low is not None and low > 0 else None
    tick.avg_price = avg / scale if avg is not None and avg > 0 else None
    tick.bid = bid / scale if bid is not None and bid > 0 else None
    tick.ask = ask / scale if ask is not None and ask > 0 else None
    tick.ltt = ltt * 1000 if ltt is not None and ltt > 0 else None
    tick.exch_ts = exch_ts * 1000 if exch_ts is not None and exch_ts > 0 else None
    if prev is not None and prev > 0:
        tick.prev_close = prev / scale
        tick.change, tick.change_pct = _changes.get((ltp, prev, scale)) or _change(ltp, prev, scale)
    else:
        tick.prev_close = tick.change = tick.change_pct = None
    return tick


def _index_made(symbol: str, scale: int, values: Sequence[int | None]) -> Tick | None:
    """The Tick of an index's 6 raw values (``INDEX_FIELDS`` order; None: absent) — or None.

    None when the Decoder's dict would not become one: a scale of 0 or a previous close of
    0 (the SDK's change cannot be computed: the update is dropped), a missing or not
    positive last price (the normalizer refuses it). As ``index_tick`` of that dict: prices
    positive or ``None``, the time in milliseconds, the change of 4 decimals.
    """
    ltp, prev, exch_ts, high, low, opened = values
    if scale == 0 or prev == 0 or ltp is None or ltp <= 0:
        return None
    tick = _copy(_BLANK_INDEX)
    tick.symbol = symbol
    tick.ltp = ltp / scale
    tick.open = opened / scale if opened is not None and opened > 0 else None
    tick.high = high / scale if high is not None and high > 0 else None
    tick.low = low / scale if low is not None and low > 0 else None
    tick.exch_ts = exch_ts * 1000 if exch_ts is not None and exch_ts > 0 else None
    if prev is not None and prev > 0:
        tick.prev_close = prev / scale
        tick.change, tick.change_pct = _changes.get((ltp, prev, scale)) or _change(ltp, prev, scale)
    return tick


class _Kind(NamedTuple):
    """A kind of topic whose whole updates :class:`TickDecoder` makes Ticks of itself."""

    fields: tuple[str, ...]
    values: struct.Struct
    made: Callable[[str, int, Sequence[int | None]], Tick | None]


_KINDS = {
    "sf": _Kind(_FIELDS, struct.Struct(f">{len(_FIELDS)}i"), _made),
    "if": _Kind(_INDEX_VALUES, struct.Struct(f">{len(_INDEX_VALUES)}i"), _index_made),
}


class _Quote:
    """A topic's values while only the fast path changes them (see ``TickDecoder._update``).

    It also carries what that path needs of the topic's kind, so that an update of a topic
    seen before costs one lookup by its id (``TickDecoder._fast``).
    """

    __slots__ = (
        "count", "fields", "made", "name", "quote", "raw", "scale", "size", "symbol",
        "topic_id", "unpack", "values",
    )  # fmt: skip

    def __init__(
        self, raw: dict[str, Any], name: str, symbol: str, kind: str, spec: _Kind, topic_id: int
    ) -> None:
        self.raw = raw  # the Decoder's raw values of the topic, behind by ``values``
        self.name = name
        self.symbol = symbol
        self.fields = spec.fields
        self.count = len(spec.fields)
        self.size = 3 + 4 * self.count  # topic id, count, the values
        self.unpack = spec.values.unpack_from
        self.made = spec.made
        self.quote = kind == "sf"
        self.topic_id = topic_id
        self.scale: int = (10 ** raw["precision"]) * raw["multiplier"]
        self.values: tuple[int | None, ...] = tuple(map(raw.get, spec.fields))

    def flush(self) -> None:
        """Bring the raw values up to date (a value never set stays unset)."""
        self.raw.update(
            [(k, v) for k, v in zip(self.fields, self.values, strict=True) if v is not None]
        )


class TickDecoder(Decoder):
    """Hands full-mode quotes over as :class:`Tick` (see the module docstring)."""

    def __init__(
        self, *args: Any, on_tick: Callable[[Tick], None] | None = None, **kwargs: Any
    ) -> None:
        """As :class:`Decoder`; ``on_tick`` takes the Ticks (else ``on_message`` does)."""
        super().__init__(*args, **kwargs)
        self._on_tick = on_tick if on_tick is not None else self._on_message
        self._quotes: dict[str, _Quote] = {}  # topic name → its values, newer than ``_raw``
        # topic id → what ``_find`` says of it for an update; only a snapshot changes that.
        self._topics: dict[int, tuple[str, str] | None] = {}
        # topic id → its _Quote, while that is the one in ``_quotes`` (emptied with _topics).
        self._fast: dict[int, _Quote] = {}

    def _snapshot(self, data: bytes, offset: int) -> int:
        self._topics.clear()
        self._fast.clear()
        return super()._snapshot(data, offset)

    def _update(self, data: bytes, offset: int) -> int:
        """A whole quote (21 values) or index (6) update goes from its values to a Tick.

        The fast path keeps such a topic's values as one tuple (:class:`_Quote`): a null
        value keeps the value before it (or its absence), as in :meth:`Decoder._update`,
        whether one changed is one comparison, and the Tick is made from the values. The
        Decoder's raw values of the topic are brought up to date (and the tuple dropped)
        before any other path reads them; a snapshot replaces them, which drops the tuple.
        Anything else — another count, a depth topic, lite mode, a Tick that cannot be made
        — is left, untouched, to :meth:`Decoder._update`.
        """
        if offset + 3 > len(data) or self.lite:
            return super()._update(data, offset)
        topic_id = _TOPIC_ID.unpack_from(data, offset)[0]
        quote = self._fast.get(topic_id)
        if (
            quote is None
            or data[offset + 2] != quote.count
            or quote.raw is not self._raw.get(quote.name)
        ):
            quote = self._quote_of(topic_id, data, offset)
            if quote is None:
                return super()._update(data, offset)
        end = offset + quote.size
        if end > len(data):
            return self._settled(quote.name, super()._update, data, offset)
        values: tuple[int | None, ...] = quote.unpack(data, offset + 3)
        nulls = values.count(NULL)
        if nulls:
            merged, before, index = list(values), quote.values, -1
            for _ in range(nulls):
                index = merged.index(NULL, index + 1)
                merged[index] = before[index]
            values = tuple(merged)
        if values == quote.values:
            return end  # nothing changed: nothing handed over (as the SDK)
        tick = quote.made(quote.symbol, quote.scale, values)
        if tick is None:
            return self._settled(quote.name, super()._update, data, offset)
        quote.values = values
        if quote.quote:
            self._out[quote.name] = _NOT_MADE
        self._on_tick(tick)
        return end

    def _quote_of(self, topic_id: int, data: bytes, offset: int) -> _Quote | None:
        """The _Quote an update of ``topic_id`` at ``offset`` takes the fast path with.

        None (the update is left to :meth:`Decoder._update`, the Decoder's raw values
        brought up to date first) for an unknown topic, a depth topic, another count of
        values, or a topic whose type or symbol a malformed update overwrote.
        """
        topics = self._topics
        if topic_id in topics:
            found = topics[topic_id]
        else:
            found = topics[topic_id] = self._find(topic_id, ("sf", "if", "dp"))
        if found is None:
            return None
        kind, name = found
        spec = _KINDS.get(kind)
        if spec is None or data[offset + 2] != len(spec.fields):
            self._settle(name)
            return None
        raw = self._raw[name]
        quote = self._quotes.get(name)
        if quote is None or quote.raw is not raw:
            symbol = raw["symbol"]
            if raw["type"] != kind or type(symbol) is not str:
                return None
            quote = self._quotes[name] = _Quote(raw, name, symbol, kind, spec, topic_id)
        self._fast[topic_id] = quote
        return quote

    def _settle(self, name: str) -> None:
        """Bring the raw values of topic ``name`` up to date; its tuple is dropped."""
        quote = self._quotes.pop(name, None)
        if quote is not None:
            self._fast.pop(quote.topic_id, None)
            if quote.raw is self._raw.get(name):
                quote.flush()

    def _settled(
        self, name: str, then: Callable[[bytes, int], int], data: bytes, offset: int
    ) -> int:
        """``then(data, offset)`` once the raw values of topic ``name`` are up to date."""
        self._settle(name)
        return then(data, offset)

    def _lite_update(self, data: bytes, offset: int) -> int:
        found = None
        if self._quotes and offset + 2 <= len(data):
            found = self._find(_TOPIC_ID.unpack_from(data, offset)[0], ("sf", "if"))
        if found is None:
            return super()._lite_update(data, offset)
        return self._settled(found[1], super()._lite_update, data, offset)

    def _hand(self, kind: str, name: str, message: dict[str, Any]) -> None:
        if kind == "sf" and not self.lite:
            tick = _to_tick(message)
            if tick is not None:
                self._on_tick(tick)
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
                self._on_tick(tick)
                return
            if last is _NOT_MADE:
                # The dict of the update is that of the whole topic (made in full: its scale
                # is not 0, a Tick was made of it), for the normalizer to judge.
                self._emit(kind, raw, name)
                return
        super()._emit_changes(kind, raw, name, last, changes)
