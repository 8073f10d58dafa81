"""The instruments the emulator knows: NIFTY 50 stocks, three indices and a few futures.

Plain data, importable by anyone (tests, the web dev server) without starting anything:
``SYMBOLS`` lists every known symbol, ``DEFAULT_WATCHLIST`` is the NIFTY 50 constituents plus
the NIFTY 50 and NIFTY BANK indices (CONTRACT §6), ``INDEX_HSM_MAP`` is what the emulator
serves at ``/sym_details/index_hsm_mapping.json``.

Fytokens follow Fyers' shape: a 4-digit segment code, six zeros, then the exchange token, so
the SDK's ``fytoken[:4]`` is the segment and ``fytoken[10:]`` the exchange token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["equity", "index", "future"]

#: Fyers segment code → HSM segment name (the SDK's ``exch_seg_dict``).
SEGMENTS: Final[dict[str, str]] = {
    "1010": "nse_cm", "1011": "nse_fo", "1120": "mcx_fo", "1210": "bse_cm",
    "1012": "cde_fo", "1211": "bse_fo", "1212": "bcs_fo", "1020": "nse_com",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable symbol and what the data socket calls it."""

    symbol: str  # Fyers symbol, e.g. "NSE:SBIN-EQ"
    kind: Kind
    segment: str  # Fyers segment code, e.g. "1010"
    exchange_token: str  # e.g. "3045"
    prev_close: float  # realistic reference price, rupees
    tick_size: float = 0.05
    lot_size: int = 1
    hsm_index_name: str = ""  # indices only: the name in the HSM topic

    @property
    def exchange(self) -> str:
        return self.symbol.split(":", 1)[0]

    @property
    def ticker(self) -> str:
        """The symbol without its exchange prefix, e.g. ``SBIN-EQ``."""
        return self.symbol.split(":", 1)[1]

    @property
    def fytoken(self) -> str:
        return f"{self.segment}000000{self.exchange_token}"

    @property
    def hsm_segment(self) -> str:
        return SEGMENTS[self.segment]

    @property
    def quote_topic(self) -> str:
        """The topic the SDK subscribes for ``SymbolUpdate`` (``if|…`` for an index)."""
        if self.kind == "index":
            return f"if|{self.hsm_segment}|{self.hsm_index_name}"
        return f"sf|{self.hsm_segment}|{self.exchange_token}"

    @property
    def depth_topic(self) -> str | None:
        """The ``DepthUpdate`` topic; indices have no depth."""
        if self.kind == "index":
            return None
        return f"dp|{self.hsm_segment}|{self.exchange_token}"


# (ticker, NSE exchange token, approximate price in rupees)
_NIFTY50: Final[tuple[tuple[str, str, float], ...]] = (
    ("ADANIENT", "25", 2450.0), ("ADANIPORTS", "15083", 1490.0),
    ("APOLLOHOSP", "157", 7500.0), ("ASIANPAINT", "236", 2900.0),
    ("AXISBANK", "5900", 1270.0), ("BAJAJ-AUTO", "16669", 9000.0),
    ("BAJFINANCE", "317", 1020.0), ("BAJAJFINSV", "16675", 2050.0),
    ("BEL", "383", 410.0), ("BHARTIARTL", "10604", 2100.0),
    ("CIPLA", "694", 1520.0), ("COALINDIA", "20374", 380.0),
    ("DRREDDY", "881", 1250.0), ("EICHERMOT", "910", 7000.0),
    ("ETERNAL", "5097", 300.0), ("GRASIM", "1232", 2700.0),
    ("HCLTECH", "7229", 1600.0), ("HDFCBANK", "1333", 1000.0),
    ("HDFCLIFE", "467", 770.0), ("HINDALCO", "1363", 800.0),
    ("HINDUNILVR", "1394", 2450.0), ("ICICIBANK", "4963", 1370.0),
    ("INDIGO", "11195", 5800.0), ("INFY", "1594", 1550.0),
    ("ITC", "1660", 405.0), ("JIOFIN", "18143", 305.0),
    ("JSWSTEEL", "11723", 1150.0), ("KOTAKBANK", "1922", 2100.0),
    ("LT", "11483", 4000.0), ("M&M", "2031", 3700.0),
    ("MARUTI", "10999", 16000.0), ("MAXHEALTH", "22377", 1100.0),
    ("NESTLEIND", "17963", 1270.0), ("NTPC", "11630", 330.0),
    ("ONGC", "2475", 250.0), ("POWERGRID", "14977", 270.0),
    ("RELIANCE", "2885", 1540.0), ("SBILIFE", "21808", 2000.0),
    ("SBIN", "3045", 970.0), ("SHRIRAMFIN", "4306", 820.0),
    ("SUNPHARMA", "3351", 1800.0), ("TATACONSUM", "3432", 1170.0),
    ("TMPV", "3456", 370.0), ("TATASTEEL", "3499", 170.0),
    ("TCS", "11536", 3150.0), ("TECHM", "13538", 1450.0),
    ("TITAN", "3506", 3850.0), ("TRENT", "1964", 4300.0),
    ("ULTRACEMCO", "11532", 11700.0), ("WIPRO", "3787", 245.0),
)  # fmt: skip

# Recent NIFTY 50 members that still trade, and the pre-demerger Tata Motors name, so
# watchlists written against an older composition still resolve (TATAMOTORS gets a token of
# its own here: two symbols must not share a topic).
_OTHER_EQUITIES: Final[tuple[tuple[str, str, float], ...]] = (
    ("HEROMOTOCO", "1348", 5400.0),
    ("INDUSINDBK", "5258", 780.0),
    ("TATAMOTORS", "3458", 370.0),
)

_INDICES: Final[tuple[Instrument, ...]] = (
    Instrument("NSE:NIFTY50-INDEX", "index", "1010", "26000", 26050.0, 0.01, 1, "Nifty 50"),
    Instrument("NSE:NIFTYBANK-INDEX", "index", "1010", "26009", 59100.0, 0.01, 1, "Nifty Bank"),
    Instrument("BSE:SENSEX-INDEX", "index", "1210", "1", 85300.0, 0.01, 1, "SENSEX"),
)

_FUTURES: Final[tuple[Instrument, ...]] = (
    Instrument("NSE:NIFTY25DECFUT", "future", "1011", "52168", 26210.0, 0.10, 75),
    Instrument("NSE:BANKNIFTY25DECFUT", "future", "1011", "52166", 59420.0, 0.20, 35),
    Instrument("NSE:RELIANCE25DECFUT", "future", "1011", "52301", 1549.0, 0.10, 500),
    Instrument("NSE:SBIN25DECFUT", "future", "1011", "52347", 975.5, 0.05, 750),
)


def _equity(ticker: str, token: str, price: float) -> Instrument:
    return Instrument(f"NSE:{ticker}-EQ", "equity", "1010", token, price)


#: The NIFTY 50 constituents as Fyers symbols, in alphabetical order of ticker.
NIFTY50_CONSTITUENTS: Final[tuple[str, ...]] = tuple(f"NSE:{t}-EQ" for t, _, _ in _NIFTY50)

NIFTY50_INDEX: Final = "NSE:NIFTY50-INDEX"
NIFTYBANK_INDEX: Final = "NSE:NIFTYBANK-INDEX"
SENSEX_INDEX: Final = "BSE:SENSEX-INDEX"

#: Every instrument, in a fixed order (the market model's and topic ids' order).
INSTRUMENTS: Final[tuple[Instrument, ...]] = (
    *(_equity(*row) for row in _NIFTY50),
    *(_equity(*row) for row in _OTHER_EQUITIES),
    *_INDICES,
    *_FUTURES,
)

#: Every symbol the emulator knows.
SYMBOLS: Final[tuple[str, ...]] = tuple(i.symbol for i in INSTRUMENTS)

#: The NIFTY 50 constituents plus the NIFTY 50 and NIFTY BANK indices (52 symbols).
DEFAULT_WATCHLIST: Final[list[str]] = [*NIFTY50_CONSTITUENTS, NIFTY50_INDEX, NIFTYBANK_INDEX]

#: Index symbol → the name in its HSM topic, as served at /sym_details/index_hsm_mapping.json.
INDEX_HSM_MAP: Final[dict[str, str]] = {i.symbol: i.hsm_index_name for i in _INDICES}


def default_watchlist() -> list[str]:
    """A fresh copy of ``DEFAULT_WATCHLIST`` that the caller may change."""
    return list(DEFAULT_WATCHLIST)


def by_symbol() -> dict[str, Instrument]:
    """Symbol → instrument for every known instrument."""
    return {i.symbol: i for i in INSTRUMENTS}
