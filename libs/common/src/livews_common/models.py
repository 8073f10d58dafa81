"""Wire models of CONTRACT §4 (Tick v1, Depth v1, status) and their fast JSON path.

msgspec is used for every hop: decoding is strict (a numeric string is not a number), and
``__post_init__`` — run on construction *and* on decode — refuses NaN and infinities, so no
such value can reach Redis or a browser. ``bench/bench_wire.py`` measures this path against
pydantic's own JSON and orjson.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

import msgspec

TickKind = Literal["quote", "index"]
UpstreamState = Literal["up", "degraded", "down"]
MarketState = Literal["pre_open", "open", "closed"]  # v1.1; the calendar is livews_common.market

#: One level of market depth: ``[price, qty, orders]``.
Level = tuple[float | None, int | None, int | None]

DEPTH_LEVELS = 5


class WireError(ValueError):
    """A payload that does not match the wire contract; ``str()`` says which field and why."""


def _check_finite(obj: msgspec.Struct, fields: tuple[str, ...]) -> None:
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")


class Tick(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """Tick v1: one symbol's latest quote or index value. Every field is always present.

    ``gc=False``: a Tick holds only numbers and strings, so it can never be part of a
    reference cycle; untracked, the thousands made per second do not trigger the cyclic
    garbage collector (about 6 % of the ingestor's CPU at 5,000 ticks/s when tracked).
    """

    v: Literal[1] = 1
    symbol: str
    kind: TickKind
    seq: int
    ltp: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    prev_close: float | None = None
    change: float | None = None
    change_pct: float | None = None
    volume: int | None = None
    ltq: int | None = None
    avg_price: float | None = None
    bid: float | None = None
    ask: float | None = None
    bid_qty: int | None = None
    ask_qty: int | None = None
    tot_buy_qty: int | None = None
    tot_sell_qty: int | None = None
    ltt: int | None = None
    exch_ts: int | None = None
    ingest_ts: int

    def __post_init__(self) -> None:
        _check_finite(self, _TICK_FLOATS)
        if self.ltp <= 0:
            raise ValueError(f"ltp must be positive, got {self.ltp!r}")
        if self.seq < 0:
            raise ValueError("seq must not be negative")


_TICK_FLOATS = (
    "ltp", "open", "high", "low", "prev_close", "change", "change_pct", "avg_price", "bid", "ask"
)  # fmt: skip


#: The largest ``seq`` taken as genuine (2**50, ~1.1e15): far above any real counter, even one
#: restarted from the clock in milliseconds, and below the 2**53 - 1 a poisoned value uses.
#: Readers ignore a value above it (gateway fan-out, the ingestor's seeding from ``md:last``).
MAX_SEQ = 2**50


class TickHead(msgspec.Struct, kw_only=True, gc=False):
    """The part of a Tick a relay needs (decoding it skips the rest of the payload)."""

    v: Literal[1]
    symbol: str
    seq: int
    ingest_ts: int


class Depth(msgspec.Struct, kw_only=True):
    """Depth v1: five levels each side, best first."""

    v: Literal[1] = 1
    symbol: str
    seq: int
    bids: list[Level]
    asks: list[Level]
    ingest_ts: int

    def __post_init__(self) -> None:
        for side in (self.bids, self.asks):
            if len(side) != DEPTH_LEVELS:
                raise ValueError(f"depth must have {DEPTH_LEVELS} levels a side, got {len(side)}")
            for price, _qty, _orders in side:
                if price is not None and not math.isfinite(price):
                    raise ValueError(f"depth price must be finite, got {price!r}")


class Bar(msgspec.Struct, kw_only=True):
    """Bar v1 (CONTRACT §4, v1.1): one symbol's one-minute bar, built by the ingestor."""

    v: Literal[1] = 1
    symbol: str
    tf: Literal["1m"] = "1m"
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: int | None = None
    ticks: int
    final: bool = False
    seq: int

    def __post_init__(self) -> None:
        _check_finite(self, _BAR_FLOATS)
        if not self.low <= min(self.open, self.close) <= max(self.open, self.close) <= self.high:
            raise ValueError("bar prices must satisfy low <= open, close <= high")
        if self.ticks < 1 or self.seq < 0 or self.start < 0:
            raise ValueError("bar ticks must be >= 1, seq and start >= 0")
        if self.volume is not None and self.volume < 0:
            raise ValueError("bar volume must not be negative")


_BAR_FLOATS = ("open", "high", "low", "close")


class Status(msgspec.Struct, kw_only=True):
    """The upstream feed state published on (and stored at) ``md:status``."""

    upstream: UpstreamState
    ts: int
    symbols: int = 0
    reason: str | None = None
    market: MarketState | None = None  # v1.1: the exchange session (None from older writers)


class SymbolVerdict(msgspec.Struct, kw_only=True):
    """The ingestor's verdict on one symbol (``md:symbols``)."""

    symbol: str
    ok: bool
    message: str | None = None
    ts: int = 0


class DemandRecord(msgspec.Struct, kw_only=True):
    """What one gateway process needs upstream right now (``md:demand:{instance}``)."""

    instance: str
    quote: list[str]
    depth: list[str]
    ts: int


class Revocation(msgspec.Struct, kw_only=True):
    """A revoked session (``auth:revoked``): gateways disconnect its sockets."""

    sid: str
    reason: str = "session_revoked"
    ts: int = 0


class FeedState(msgspec.Struct, kw_only=True):
    """Whether auth can keep the feed account's token fresh (``auth:feed:state``)."""

    ok: bool
    account: str | None
    expires_at: int | None  # epoch seconds of the current token, if any
    reason: str | None
    action: str | None  # what an operator should do when not ok
    ts: int


_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

T = TypeVar("T", bound=msgspec.Struct)


def encode(obj: msgspec.Struct) -> bytes:
    """JSON bytes of a wire struct (field order as declared, ``null`` for None)."""
    return _encoder.encode(obj)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Strictly decode ``data`` into ``type_``; any mismatch raises :class:`WireError`."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        result: T = decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise WireError(f"invalid {type_.__name__}: {exc}") from None
    return result


def to_builtins(obj: msgspec.Struct) -> dict[str, Any]:
    """The struct as plain dicts/lists, ready for any JSON encoder."""
    result: dict[str, Any] = msgspec.to_builtins(obj)
    return result
