"""Symbol shapes and the default watchlist of CONTRACT §6."""

from __future__ import annotations

import pytest

from fyers_emulator.universe import DEFAULT_WATCHLIST as EMULATED_WATCHLIST
from livews_common.symbols import DEFAULT_WATCHLIST, is_index, is_valid_symbol


def test_default_watchlist_is_nifty50_plus_two_indices() -> None:
    assert len(DEFAULT_WATCHLIST) == len(set(DEFAULT_WATCHLIST)) == 52
    assert [s for s in DEFAULT_WATCHLIST if is_index(s)] == [
        "NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX"
    ]  # fmt: skip
    assert all(is_valid_symbol(s) for s in DEFAULT_WATCHLIST)


def test_the_emulator_serves_the_same_watchlist() -> None:
    assert sorted(EMULATED_WATCHLIST) == sorted(DEFAULT_WATCHLIST)


@pytest.mark.parametrize(
    "value",
    ["NSE:SBIN-EQ", "NSE:M&M-EQ", "BSE:SENSEX-INDEX", "NSE:NIFTY25DECFUT", "MCX:GOLD25DECFUT"],
)
def test_valid_shapes(value: str) -> None:
    assert is_valid_symbol(value)


@pytest.mark.parametrize(
    "value",
    ["", "SBIN", "nse:sbin-eq", "NSE:", "XXX:SBIN-EQ", "NSE:SBIN EQ", "NSE:" + "A" * 60, 42, None],
)
def test_invalid_shapes(value: object) -> None:
    assert not is_valid_symbol(value)


@pytest.mark.parametrize(
    "value",
    [
        "NSE:SBIN-EQ\n",  # `$` in a regex would accept this trailing newline
        "NSE:SBIN-EQ\r\n",
        "NSE:SBIN\n-EQ",
        "NSE:SBIN-EQ\x00",
        "NSE:SBIN\x1b[2J",
        "NSE:SBIN-EQ\t",
        "\nNSE:SBIN-EQ",
        "NSE:SBIN-EQ\x7f",
        "NSE:SBİN-EQ",  # a non-ASCII capital
    ],
)
def test_control_characters_and_trailing_newline_are_refused(value: str) -> None:
    assert not is_valid_symbol(value)
