"""Encode/decode cost of a Tick: msgspec (what libs/common uses) vs pydantic vs orjson.

Every tick is encoded once by the ingestor and decoded at least once per gateway, so this
is on every hop. Each variant validates (types, finite numbers) as the wire contract needs;
orjson alone does not, so it gets a hand-written check, which is the fair comparison.
"""

from __future__ import annotations

import math
import sys
import timeit
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, field_validator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import median, write_result

from livews_common.models import Tick, TickHead, decode, encode

FIELDS = dict(
    symbol="NSE:SBIN-EQ", kind="quote", seq=1042, ltp=812.35, open=805.0, high=815.2, low=801.1,
    prev_close=806.4, change=5.95, change_pct=0.74, volume=12345678, ltq=25, avg_price=809.87,
    bid=812.3, ask=812.4, bid_qty=1500, ask_qty=900, tot_buy_qty=450000, tot_sell_qty=512000,
    ltt=1764100000000, exch_ts=1764100000120, ingest_ts=1764100000125,
)  # fmt: skip


class PydTick(BaseModel):
    model_config = ConfigDict(strict=True)
    v: int = 1
    symbol: str
    kind: str
    seq: int
    ltp: float
    open: float | None
    high: float | None
    low: float | None
    prev_close: float | None
    change: float | None
    change_pct: float | None
    volume: int | None
    ltq: int | None
    avg_price: float | None
    bid: float | None
    ask: float | None
    bid_qty: int | None
    ask_qty: int | None
    tot_buy_qty: int | None
    tot_sell_qty: int | None
    ltt: int | None
    exch_ts: int | None
    ingest_ts: int

    @field_validator("ltp", "open", "high", "low", "bid", "ask", "change", "change_pct")
    @classmethod
    def finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("not finite")
        return v


def orjson_decode(raw: bytes) -> dict[str, object]:
    doc: dict[str, object] = orjson.loads(raw)
    for key, value in doc.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(key)
        if isinstance(value, str) and key not in ("symbol", "kind"):
            raise ValueError(key)
    return doc


def per_op_ns(fn: object, number: int = 20000, repeat: int = 7) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return median(times) / number * 1e9


def main() -> None:
    tick = Tick(**FIELDS)  # type: ignore[arg-type]
    pyd = PydTick(**FIELDS)  # type: ignore[arg-type]
    raw = encode(tick)
    as_dict = dict(FIELDS, v=1)
    assert orjson.loads(pyd.model_dump_json()) == orjson.loads(raw)
    m = {
        "msgspec_encode": (per_op_ns(lambda: encode(tick)), "ns/op"),
        "msgspec_decode": (per_op_ns(lambda: decode(raw, Tick)), "ns/op"),
        "msgspec_decode_head": (per_op_ns(lambda: decode(raw, TickHead)), "ns/op"),
        "pydantic_encode": (per_op_ns(pyd.model_dump_json), "ns/op"),
        "pydantic_decode": (per_op_ns(lambda: PydTick.model_validate_json(raw)), "ns/op"),
        "orjson_encode_dict": (per_op_ns(lambda: orjson.dumps(as_dict)), "ns/op"),
        "orjson_decode_checked": (per_op_ns(lambda: orjson_decode(raw)), "ns/op"),
    }
    m["pydantic_vs_msgspec_decode_ratio"] = (m["pydantic_decode"][0] / m["msgspec_decode"][0], "x")
    m["pydantic_vs_msgspec_encode_ratio"] = (m["pydantic_encode"][0] / m["msgspec_encode"][0], "x")
    write_result("wire", m, notes="median of 7 repeats x 20,000 ops; one Tick with every field")


if __name__ == "__main__":
    main()
