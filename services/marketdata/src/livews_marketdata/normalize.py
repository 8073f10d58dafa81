"""Turn what the Fyers SDK hands ``on_message`` into Tick v1 / Depth v1 (CONTRACT §4).

The SDK (fyers-apiv3 3.2.0, full mode) delivers one ``dict`` per update, already merged
with the topic's previous values and scaled to rupees:

- quotes, ``type: "sf"``: ``ltp, vol_traded_today, last_traded_time, exch_feed_time,
  bid_size, ask_size, bid_price, ask_price, last_traded_qty, tot_buy_qty, tot_sell_qty,
  avg_trade_price, low_price, high_price, open_price, prev_close_price, ch, chp, symbol``
  (plus ``lower_ckt``/``upper_ckt`` always 0: the SDK overwrites them);
- indices, ``type: "if"``: ``ltp, prev_close_price, exch_feed_time, high_price, low_price,
  open_price, ch, chp, symbol``;
- depth, ``type: "dp"``: ``bid_price1..5, ask_price1..5, bid_size1..5, ask_size1..5,
  bid_order1..5, ask_order1..5, symbol``.

A field the exchange did not send (``-2147483648`` on the wire) is simply absent from the
dict; it becomes ``null``. Times are epoch **seconds**; they become milliseconds. A price of
zero or less other than ``ltp`` means "none" (no bid at the upper circuit, say) and becomes
``null``. ``change``/``change_pct`` are recomputed from ``ltp`` and ``prev_close`` with one
rounding rule for quotes and indices (the SDK rounds indices to 2 places, quotes to 4).

Anything else is a bad update: dropped, counted by reason, never raised.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container, Iterable
from typing import Any

from livews_common.models import Depth, Level, Tick

#: Integers beyond this lose precision in a browser's JSON.parse.
MAX_SAFE_INT = 2**53 - 1
_INF = math.inf
_Pairs = tuple[tuple[str, str], ...]
_MS_THRESHOLD = 100_000_000_000  # a timestamp above this is already in milliseconds

_QUOTE_PRICES = (
    ("open", "open_price"), ("high", "high_price"), ("low", "low_price"),
    ("prev_close", "prev_close_price"), ("avg_price", "avg_trade_price"),
    ("bid", "bid_price"), ("ask", "ask_price"),
)  # fmt: skip
_QUOTE_INTS = (
    ("volume", "vol_traded_today"), ("ltq", "last_traded_qty"), ("bid_qty", "bid_size"),
    ("ask_qty", "ask_size"), ("tot_buy_qty", "tot_buy_qty"), ("tot_sell_qty", "tot_sell_qty"),
)  # fmt: skip
_INDEX_PRICES = (
    ("open", "open_price"), ("high", "high_price"), ("low", "low_price"),
    ("prev_close", "prev_close_price"),
)  # fmt: skip
_DEPTH_KEYS = tuple(
    tuple((f"{side}_price{i}", f"{side}_size{i}", f"{side}_order{i}") for i in range(1, 6))
    for side in ("bid", "ask")
)


class BadUpdate(ValueError):
    """An update that must not reach Redis; ``reason`` labels the drop metric."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(raw: dict[str, Any], key: str) -> float | int | None:
    value = raw.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise BadUpdate("not_finite")
        return value  # type: ignore[no-any-return]
    if kind is int:
        return value  # type: ignore[no-any-return]
    raise BadUpdate("non_numeric")  # str, bool, list, …: never a number on this wire


def price(raw: dict[str, Any], key: str) -> float | None:
    """A price field: rupees, ``None`` when absent or not positive."""
    value = _number(raw, key)
    if value is None or value <= 0:
        return None
    return float(value)


def quantity(raw: dict[str, Any], key: str) -> int | None:
    """A count field: a non-negative integer (an integral float is accepted)."""
    value = _number(raw, key)
    if value is None:
        return None
    if type(value) is float:
        if not value.is_integer():
            raise BadUpdate("non_integral")
        value = int(value)
    if value < 0:
        raise BadUpdate("negative_quantity")
    if value > MAX_SAFE_INT:
        raise BadUpdate("out_of_range")
    return int(value)


def timestamp_ms(raw: dict[str, Any], key: str) -> int | None:
    """An epoch time (the SDK gives seconds) as epoch milliseconds; ``None`` if absent or ≤ 0."""
    value = raw.get(key)
    if type(value) is int and 0 < value < _MS_THRESHOLD:
        return value * 1000
    value = _number(raw, key)
    if value is None or value <= 0:
        return None
    if value > MAX_SAFE_INT:
        raise BadUpdate("out_of_range")
    return int(value if value > _MS_THRESHOLD else value * 1000)


def _symbol(raw: dict[str, Any], known: Container[str]) -> str:
    symbol = raw.get("symbol")
    if type(symbol) is not str or symbol not in known:
        raise BadUpdate("unknown_symbol")
    return symbol


def _ltp(raw: dict[str, Any]) -> float:
    value = raw.get("ltp")
    if type(value) is float and 0.0 < value < _INF:
        return value
    value = _number(raw, "ltp")
    if value is None:
        raise BadUpdate("missing_ltp")
    if value <= 0:
        raise BadUpdate("non_positive_price")
    return float(value)


def _change(ltp: float, prev_close: float | None) -> tuple[float | None, float | None]:
    if prev_close is None:
        return None, None
    change = round(ltp - prev_close, 4)
    pct = round(change / prev_close * 100, 4)
    if not (math.isfinite(change) and math.isfinite(pct)):
        raise BadUpdate("not_finite")
    return change, pct


def _fields(raw: dict[str, Any], prices: _Pairs, counts: _Pairs) -> dict[str, Any]:
    """Contract name → value for ``prices`` and ``counts``, with an inline fast path.

    The common case (a finite positive float, a small non-negative int, or absent) is
    checked here without a call; anything else goes through :func:`price`/:func:`quantity`,
    which normalize or raise.
    """
    get = raw.get
    out: dict[str, Any] = {}
    for name, key in prices:
        v = get(key)
        if v is None or (type(v) is float and 0.0 < v < _INF):
            out[name] = v
        else:
            out[name] = price(raw, key)
    for name, key in counts:
        v = get(key)
        if v is None or (type(v) is int and 0 <= v <= MAX_SAFE_INT):
            out[name] = v
        else:
            out[name] = quantity(raw, key)
    return out


def quote_tick(raw: dict[str, Any], symbol: str, ingest_ts: int) -> Tick:
    """Tick v1 of an ``sf`` update (``seq`` 0: the sequencer assigns it)."""
    ltp = _ltp(raw)
    f = _fields(raw, _QUOTE_PRICES, _QUOTE_INTS)
    f["change"], f["change_pct"] = _change(ltp, f["prev_close"])
    return Tick(
        symbol=symbol, kind="quote", seq=0, ltp=ltp,
        ltt=timestamp_ms(raw, "last_traded_time"), exch_ts=timestamp_ms(raw, "exch_feed_time"),
        ingest_ts=ingest_ts, **f,
    )  # fmt: skip


def index_tick(raw: dict[str, Any], symbol: str, ingest_ts: int) -> Tick:
    """Tick v1 of an ``if`` update: quote-only fields are ``null``."""
    ltp = _ltp(raw)
    f = _fields(raw, _INDEX_PRICES, ())
    f["change"], f["change_pct"] = _change(ltp, f["prev_close"])
    return Tick(
        symbol=symbol, kind="index", seq=0, ltp=ltp,
        exch_ts=timestamp_ms(raw, "exch_feed_time"), ingest_ts=ingest_ts, **f,
    )  # fmt: skip


def depth_update(raw: dict[str, Any], symbol: str, ingest_ts: int) -> Depth:
    """Depth v1 of a ``dp`` update; a level without a positive price is all ``null``."""
    sides: list[list[Level]] = []
    for keys in _DEPTH_KEYS:
        levels: list[Level] = []
        for price_key, size_key, orders_key in keys:
            px = price(raw, price_key)
            qty, orders = quantity(raw, size_key), quantity(raw, orders_key)
            levels.append((px, qty, orders) if px is not None else (None, None, None))
        sides.append(levels)
    return Depth(symbol=symbol, seq=0, bids=sides[0], asks=sides[1], ingest_ts=ingest_ts)


class Normalizer:
    """Normalizes batches of raw SDK updates; keeps counts of what it saw and dropped.

    ``counts_in`` (by kind) and ``drops`` (by reason) accumulate until the caller takes them
    with :meth:`take_counts` (so metrics are updated once per batch, not per update).
    """

    def __init__(self) -> None:
        self.counts_in: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()

    def normalize(
        self,
        items: Iterable[tuple[int, object]],
        quotes: Container[str],
        depths: Container[str],
    ) -> tuple[list[Tick], list[Depth]]:
        """``(received_ms, raw)`` pairs → ticks and depth updates, in arrival order.

        ``raw`` is an SDK dict, or a :class:`Tick` made from one already (by
        :class:`~livews_marketdata.upstream.hsm.ticks.TickDecoder`, with ``ingest_ts`` and
        ``seq`` 0): it only gets its receive time and the same symbol check.

        ``quotes``/``depths`` are the symbols subscribed for each; an update for any other
        symbol is dropped as ``unknown_symbol``.
        """
        ticks: list[Tick] = []
        depth: list[Depth] = []
        counts, drops = self.counts_in, self.drops
        made = 0  # Ticks made already, counted once at the end
        for received, raw in items:
            if type(raw) is Tick:  # a quote the HSM client's TickDecoder already made
                if raw.kind != "quote":
                    counts[raw.kind] += 1
                else:
                    made += 1
                if raw.symbol in quotes:
                    raw.ingest_ts = received
                    ticks.append(raw)
                else:
                    drops["unknown_symbol"] += 1
                continue
            if type(raw) is not dict:
                counts["garbage"] += 1
                drops["garbage"] += 1
                continue
            kind = raw.get("type")
            try:
                if kind == "sf":
                    counts["quote"] += 1
                    ticks.append(quote_tick(raw, _symbol(raw, quotes), received))
                elif kind == "if":
                    counts["index"] += 1
                    ticks.append(index_tick(raw, _symbol(raw, quotes), received))
                elif kind == "dp":
                    counts["depth"] += 1
                    depth.append(depth_update(raw, _symbol(raw, depths), received))
                else:
                    counts["garbage"] += 1
                    drops["unknown_type"] += 1
            except BadUpdate as exc:
                drops[exc.reason] += 1
            except (ValueError, TypeError, ArithmeticError):
                drops["invalid"] += 1  # refused by the wire model itself
        if made:
            counts["quote"] += made
        return ticks, depth

    def take_counts(self) -> tuple[Counter[str], Counter[str]]:
        counts, drops = self.counts_in, self.drops
        self.counts_in, self.drops = Counter(), Counter()
        return counts, drops


class Sequencer:
    """Per-symbol ``seq`` for ticks and, separately, for depth: strictly increasing.

    ``seed`` raises the counters to what Redis holds (a new leader continues from
    ``md:last``); it never lowers one, so a seq never goes backwards within a process.
    """

    def __init__(self) -> None:
        self.ticks: dict[str, int] = {}
        self.depth: dict[str, int] = {}

    def seed(self, ticks: dict[str, int], depth: dict[str, int]) -> None:
        for mine, theirs in ((self.ticks, ticks), (self.depth, depth)):
            for symbol, seq in theirs.items():
                if seq > mine.get(symbol, 0):
                    mine[symbol] = seq

    def stamp(self, ticks: list[Tick], depth: list[Depth]) -> None:
        seqs = self.ticks
        for tick in ticks:
            seq = seqs[tick.symbol] = seqs.get(tick.symbol, 0) + 1
            tick.seq = seq
        seqs = self.depth
        for update in depth:
            seq = seqs[update.symbol] = seqs.get(update.symbol, 0) + 1
            update.seq = seq
