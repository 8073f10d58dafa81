"""The real FyersDataSocket against the emulator: quotes, indices, depth, lite mode, errors."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import jwt
from emulator_harness import Emu, SdkClient, msg

QUOTE_FIELDS = {
    "ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size", "ask_size",
    "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty", "tot_sell_qty",
    "avg_trade_price", "low_price", "high_price", "lower_ckt", "upper_ckt", "open_price",
    "prev_close_price", "ch", "chp", "symbol", "type",
}  # fmt: skip
INDEX_FIELDS = {"ltp", "prev_close_price", "exch_feed_time", "high_price", "low_price",
                "open_price", "ch", "chp", "symbol", "type"}  # fmt: skip
DEPTH_FIELDS = {
    f"{side}_{what}{n}"
    for side in ("bid", "ask")
    for what in ("price", "size", "order")
    for n in range(1, 6)
} | {"symbol", "type"}

Sdk = Callable[..., SdkClient]


def on_tick(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


def check_quote(q: dict[str, Any], tick: float = 0.05) -> None:
    assert set(q) == QUOTE_FIELDS, set(q) ^ QUOTE_FIELDS
    assert q["low_price"] <= q["ltp"] <= q["high_price"]
    assert q["bid_price"] <= q["ltp"] <= q["ask_price"] and q["bid_price"] < q["ask_price"]
    assert q["low_price"] <= q["open_price"] <= q["high_price"]
    for key in ("ltp", "bid_price", "ask_price", "open_price", "prev_close_price"):
        assert isinstance(q[key], float) and on_tick(q[key], tick), (key, q[key])
    assert q["vol_traded_today"] > 0 and q["last_traded_qty"] > 0
    assert q["low_price"] <= q["avg_trade_price"] <= q["high_price"] * 1.01
    assert q["ch"] == round(q["ltp"] - q["prev_close_price"], 4)
    assert abs(q["chp"] - q["ch"] / q["prev_close_price"] * 100) < 1e-3
    assert q["last_traded_time"] > 1_700_000_000  # epoch seconds


def test_quotes_indices_and_depth_in_full_mode(emu: Emu, sdk: Sdk) -> None:
    client = sdk(emu, emu.login()["access_token"])
    authenticated = {"type": "cn", "code": 200, "message": "Authentication done", "s": "ok"}
    client.wait_for(lambda e: e["data"] == authenticated)
    client.wait_for(msg("ful"))
    client.subscribe(["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX",
                      "BSE:SENSEX-INDEX", "NSE:NIFTY25DECFUT"])  # fmt: skip
    client.subscribe(["NSE:SBIN-EQ"], data_type="DepthUpdate")
    client.wait_for(msg("sub"), count=2)
    quotes = client.wait_for(msg("sf", "NSE:SBIN-EQ"), count=3)
    for event in quotes:
        check_quote(event["data"])
    assert 700 < quotes[0]["data"]["prev_close_price"] < 1300
    check_quote(client.wait_for(msg("sf", "NSE:NIFTY25DECFUT"))[0]["data"], tick=0.10)
    for symbol, low, high in (("NSE:NIFTY50-INDEX", 20_000, 32_000),
                              ("NSE:NIFTYBANK-INDEX", 45_000, 70_000),
                              ("BSE:SENSEX-INDEX", 65_000, 100_000)):  # fmt: skip
        index = client.wait_for(msg("if", symbol), count=2)[-1]["data"]
        assert set(index) == INDEX_FIELDS
        assert low < index["ltp"] < high
        assert index["low_price"] <= index["ltp"] <= index["high_price"]
        assert index["ch"] == round(index["ltp"] - index["prev_close_price"], 2)
    depths = client.wait_for(msg("dp", "NSE:SBIN-EQ"), count=3)
    for event in depths:
        d = event["data"]
        assert set(d) == DEPTH_FIELDS
        bids = [d[f"bid_price{n}"] for n in range(1, 6)]
        asks = [d[f"ask_price{n}"] for n in range(1, 6)]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0] and all(on_tick(p, 0.05) for p in bids + asks)
        for side in ("bid", "ask"):
            for n in range(1, 6):
                assert 1 <= d[f"{side}_order{n}"] <= d[f"{side}_size{n}"]
    assert not client.matching(lambda e: e["ev"] == "error")


def test_lite_mode_sends_last_price_only(emu: Emu, sdk: Sdk) -> None:
    client = sdk(emu, emu.login()["access_token"], lite=True)
    client.wait_for(msg("lit"))
    client.subscribe(["NSE:TCS-EQ", "NSE:NIFTY50-INDEX"])
    quotes = client.wait_for(msg("sf", "NSE:TCS-EQ"), count=3)
    index = client.wait_for(msg("if", "NSE:NIFTY50-INDEX"), count=3)
    for event in quotes + index:
        assert set(event["data"]) == {"ltp", "symbol", "type"}
        assert isinstance(event["data"]["ltp"], float)
    assert 2000 < quotes[-1]["data"]["ltp"] < 5000
    prices = [e["data"]["ltp"] for e in quotes]
    assert all(a != b for a, b in itertools.pairwise(prices))  # the SDK skips repeats


def test_unknown_symbol_comes_back_invalid(emu: Emu, sdk: Sdk) -> None:
    client = sdk(emu, emu.login()["access_token"])
    client.subscribe(["NSE:SBIN-EQ", "NSE:NOSUCH-EQ"])
    error = client.wait_for(lambda e: e["ev"] == "error")[0]["data"]
    assert error["code"] == -300 and error["invalid_symbols"] == ["NSE:NOSUCH-EQ"]
    client.wait_for(msg("sf", "NSE:SBIN-EQ"))  # the valid one still streams


def test_unsubscribe_stops_a_symbol(emu: Emu, sdk: Sdk) -> None:
    client = sdk(emu, emu.login()["access_token"])
    client.subscribe(["NSE:SBIN-EQ", "NSE:INFY-EQ"])  # one call: the SDK only unsubscribes
    client.wait_for(msg("sf", "NSE:SBIN-EQ"))  # symbols of its latest subscribe()
    client.send("unsubscribe", symbols=["NSE:SBIN-EQ"])
    ack = client.wait_for(msg("unsub"))[0]
    client.wait_for(msg("sf", "NSE:INFY-EQ"), count=5, since=ack["t"])
    assert not client.matching(lambda e: msg("sf", "NSE:SBIN-EQ")(e) and e["t"] > ack["t"])


def test_symbol_limit_is_a_custom_message(emu_factory: Callable[..., Emu], sdk: Sdk) -> None:
    emu = emu_factory(EMULATOR_SYMBOL_LIMIT="3")
    client = sdk(emu, emu.login()["access_token"])
    client.subscribe(["NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ", "NSE:ITC-EQ"])
    error = client.wait_for(lambda e: e["ev"] == "error")[0]["data"]
    assert error["code"] == 51001 and error["type"] == "sub" and "limit" in error["message"]
    client.subscribe(["NSE:SBIN-EQ", "NSE:INFY-EQ"])
    client.wait_for(msg("sf", "NSE:INFY-EQ"))


def test_socket_checks_the_hsm_key(emu: Emu, sdk: Sdk) -> None:
    # The SDK only base64-decodes the token; the emulator checks the hsm_key it sends.
    now = int(time.time())
    fake = jwt.encode({"exp": now + 3600, "hsm_key": "00" * 28, "sub": "access_token"},
                      b"k" * 32, algorithm="HS256")  # fmt: skip
    client = sdk(emu, fake)
    error = client.wait_for(lambda e: e["ev"] == "error")[0]["data"]
    assert error == {"type": "cn", "code": 11001, "message": "Authentication failed", "s": "error"}
    client.wait_for(lambda e: e["ev"] == "close")
