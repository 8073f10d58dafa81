"""Decoder of the compact tick encoding (docs/compact-encoding.md; CONTRACT §3 v1.1).

Standard library only, so a third party can copy this one file. A connection that asked for
``auth: {"token": ..., "format": "compact"}`` receives, in ``ticks`` and in a quote
``snapshot``'s ``ticks``, *rows* instead of Tick v1 objects. Feed every row of a connection,
in order, to one :class:`CompactDecoder`; it returns the full Tick v1 each row stands for.

Rows (JSON arrays; ``FIELDS`` is the fixed field order):

* key row ``[symbol, seq, kind, ltp, open, …, ingest_ts]``: a whole tick, values as in Tick v1;
* delta row ``[symbol, seq, mask, value, …]``: only the fields whose bit ``1 << i`` (``i`` the
  index in ``FIELDS``) is set in ``mask``, in ``FIELDS`` order, each one of: ``null``
  (now null), a string (the new ``kind``), ``[x]`` (the new value ``x`` as is), or an integer
  ``d``: the new value is ``(round(old * SCALE) + d) / SCALE`` (``SCALE`` of the field; exact).

A delta row applies to the last tick of that symbol this connection received; the server only
sends one when the client holds it (else a key row: after subscribe, conflation, resync).
"""

from __future__ import annotations

from typing import Any

#: Tick v1 fields after ``symbol`` and ``seq``, in row order.
FIELDS: tuple[str, ...] = (
    "kind", "ltp", "open", "high", "low", "prev_close", "change", "change_pct", "volume",
    "ltq", "avg_price", "bid", "ask", "bid_qty", "ask_qty", "tot_buy_qty", "tot_sell_qty",
    "ltt", "exch_ts", "ingest_ts",
)  # fmt: skip
#: Scale of a field's integer deltas: prices in hundredths, the rest in units.
_PRICES = (
    "ltp",
    "open",
    "high",
    "low",
    "prev_close",
    "change",
    "change_pct",
    "avg_price",
    "bid",
    "ask",
)
SCALES: dict[str, int] = dict.fromkeys(_PRICES, 100)


class CompactError(ValueError):
    """A row that does not decode (malformed, or a delta with no tick to apply it to)."""


def scale_of(field: str) -> int:
    return SCALES.get(field, 1)


def apply_delta(old: Any, value: Any, scale: int) -> Any:
    """The new value of one field from its old value and the row's ``value``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) != 1:
            raise CompactError("an absolute value is a one-element list")
        return value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise CompactError(f"a delta must be an integer, got {value!r}")
    if isinstance(old, bool) or not isinstance(old, int | float):
        raise CompactError("an integer delta needs a numeric old value")
    scaled = round(old * scale) + value
    return scaled if scale == 1 else scaled / scale


class CompactDecoder:
    """Decodes one connection's rows into Tick v1 dicts (keeps the last tick per symbol)."""

    def __init__(self) -> None:
        self.last: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget everything (a new connection starts from key rows)."""
        self.last.clear()

    def decode(self, row: Any) -> dict[str, Any]:
        if not isinstance(row, list) or len(row) < 3:
            raise CompactError("a row is a list [symbol, seq, kind | mask, ...]")
        symbol, seq, third = row[0], row[1], row[2]
        if not isinstance(symbol, str) or isinstance(seq, bool) or not isinstance(seq, int):
            raise CompactError("a row starts with symbol (string) and seq (integer)")
        if isinstance(third, str):
            if len(row) != 2 + len(FIELDS):
                raise CompactError(f"a key row has {2 + len(FIELDS)} items")
            tick: dict[str, Any] = {"v": 1, "symbol": symbol, "seq": seq}
            tick.update(zip(FIELDS, row[2:], strict=True))
        else:
            old = self.last.get(symbol)
            if old is None:
                raise CompactError(f"a delta row for {symbol} before any key row")
            if isinstance(third, bool) or not isinstance(third, int) or third < 0:
                raise CompactError("a delta row's mask is a non-negative integer")
            tick = dict(old)
            tick["seq"] = seq
            values = iter(row[3:])
            for i, field in enumerate(FIELDS):
                if third & (1 << i):
                    try:
                        value = next(values)
                    except StopIteration:
                        raise CompactError("fewer values than the mask says") from None
                    tick[field] = apply_delta(old[field], value, scale_of(field))
            if next(values, _END) is not _END:
                raise CompactError("more values than the mask says")
        self.last[symbol] = tick
        return tick

    def decode_all(self, rows: Any) -> list[dict[str, Any]]:
        if not isinstance(rows, list):
            raise CompactError("a ticks payload is a list of rows")
        return [self.decode(row) for row in rows]


_END = object()
