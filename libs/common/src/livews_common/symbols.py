"""Fyers symbol strings: their shape and the default watchlist (CONTRACT §6)."""

from __future__ import annotations

import re

#: ``EXCHANGE:NAME`` — exchange in capitals, name of letters, digits and ``-&_.``. Matched with
#: ``fullmatch`` (never ``match`` with ``$``, which also accepts a trailing newline), so no control
#: character can get through.
SYMBOL_PATTERN = re.compile(r"(NSE|BSE|MCX|NCDEX|CDS|BCD|NFO|BFO):[A-Z0-9][A-Z0-9&_.\-]{0,39}")
MAX_SYMBOL_LENGTH = 48

#: As of late 2025: IndiGo and Max Healthcare joined; Tata Motors' passenger-vehicle business
#: trades as TMPV since its demerger.
NIFTY50_CONSTITUENTS: tuple[str, ...] = tuple(
    f"NSE:{name}-EQ"
    for name in (
        "ADANIENT", "ADANIPORTS", "APOLLOHOSP", "ASIANPAINT", "AXISBANK",
        "BAJAJ-AUTO", "BAJFINANCE", "BAJAJFINSV", "BEL", "BHARTIARTL",
        "CIPLA", "COALINDIA", "DRREDDY", "EICHERMOT", "ETERNAL",
        "GRASIM", "HCLTECH", "HDFCBANK", "HDFCLIFE", "HINDALCO",
        "HINDUNILVR", "ICICIBANK", "INDIGO", "INFY", "ITC",
        "JIOFIN", "JSWSTEEL", "KOTAKBANK", "LT", "M&M",
        "MARUTI", "MAXHEALTH", "NESTLEIND", "NTPC", "ONGC",
        "POWERGRID", "RELIANCE", "SBILIFE", "SBIN", "SHRIRAMFIN",
        "SUNPHARMA", "TATACONSUM", "TMPV", "TATASTEEL", "TCS",
        "TECHM", "TITAN", "TRENT", "ULTRACEMCO", "WIPRO",
    )
)  # fmt: skip

NIFTY50_INDEX = "NSE:NIFTY50-INDEX"
NIFTYBANK_INDEX = "NSE:NIFTYBANK-INDEX"

#: The NIFTY 50 constituents plus the NIFTY 50 and NIFTY BANK indices (52 symbols).
DEFAULT_WATCHLIST: tuple[str, ...] = (*NIFTY50_CONSTITUENTS, NIFTY50_INDEX, NIFTYBANK_INDEX)


def is_valid_symbol(value: object) -> bool:
    """True when ``value`` is a string shaped like a Fyers symbol (not whether it exists)."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_SYMBOL_LENGTH
        and SYMBOL_PATTERN.fullmatch(value) is not None
    )


def is_index(symbol: str) -> bool:
    return symbol.endswith("-INDEX")
