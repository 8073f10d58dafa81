"""Parsing what clients send (CONTRACT §3); anything malformed is a :class:`BadRequest`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from livews_common.codes import ErrorCode
from livews_common.symbols import is_valid_symbol
from livews_gateway.clients import MODES, Mode
from livews_gateway.errors import BadRequest

#: Symbols one subscribe or unsubscribe call may name (the 64 KiB frame limit is the other bound).
MAX_SYMBOLS_PER_CALL = 1000
#: Bounds of a subscribe's ``max_hz`` (updates per second per symbol; CONTRACT §3 v1.1).
MIN_HZ = 0.1
MAX_HZ = 1000.0


@dataclass
class SymbolsRequest:
    """A subscribe/unsubscribe: well-formed symbols (deduplicated, in order) and refusals."""

    mode: Mode
    symbols: list[str]
    rejected: list[dict[str, str]] = field(default_factory=list)
    #: ``max_hz`` of a subscribe, or None: full rate.
    max_hz: float | None = None


def rejection(symbol: str, code: ErrorCode, message: str) -> dict[str, str]:
    return {"symbol": symbol, "code": str(code), "message": message}


def parse_symbols(data: object) -> SymbolsRequest:
    """``{"symbols": [...], "mode": "quote" | "depth" | "bars"}``; mode defaults to quote."""
    if not isinstance(data, dict):
        raise BadRequest('payload must be an object: {"symbols": [...], "mode": "quote"}')
    mode = data.get("mode", "quote")
    if mode not in MODES:
        raise BadRequest('mode must be "quote", "depth" or "bars"')
    symbols = data.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise BadRequest("symbols must be a list of strings")
    if len(symbols) > MAX_SYMBOLS_PER_CALL:
        raise BadRequest(f"at most {MAX_SYMBOLS_PER_CALL} symbols per call")
    request = SymbolsRequest(mode=cast(Mode, mode), symbols=[], max_hz=parse_max_hz(data))
    seen: set[str] = set()
    for symbol in symbols:
        if symbol in seen:
            continue
        seen.add(symbol)
        if is_valid_symbol(symbol):
            request.symbols.append(symbol)
        else:
            request.rejected.append(
                rejection(symbol, ErrorCode.INVALID_SYMBOL, "not a Fyers symbol (EXCHANGE:NAME)")
            )
    return request


def parse_max_hz(data: dict[object, object]) -> float | None:
    """``"max_hz"``: absent or null for full rate, else a number in [MIN_HZ, MAX_HZ]."""
    value = data.get("max_hz")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_HZ <= value <= MAX_HZ
    ):
        raise BadRequest(f"max_hz must be a number from {MIN_HZ:g} to {MAX_HZ:g} (or absent)")
    return float(value)


#: Tick encodings a connection may ask for in its ``auth`` (CONTRACT §3 v1.1).
FORMATS = ("json", "compact")


def parse_format(auth: object) -> str | None:
    """``auth["format"]``: "json" (the default) or "compact"; None when it is neither."""
    value = auth.get("format", "json") if isinstance(auth, dict) else "json"
    return value if value in FORMATS else None


def parse_refresh(data: object) -> str:
    """``{"token": "<access JWT>"}``."""
    if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not data["token"]:
        raise BadRequest('payload must be {"token": "<access JWT>"}')
    token: str = data["token"]
    return token
