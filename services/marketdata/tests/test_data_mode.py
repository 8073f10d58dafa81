"""``MARKETDATA_DATA_MODE=lite``: the HSM lite mode, the last price only (CONTRACT §4 nulls).

A real emulator, a real ingestor process on our HSM client in lite mode, real Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from md_harness import WATCHLIST, WatchFactory

from livews_common.settings import ConfigError
from livews_devtools.fleet_marketdata import start_marketdata
from livews_devtools.pytest_plugin import Spawn, start_emulator
from livews_marketdata.settings import MarketdataSettings

#: Everything a Tick carries besides the price in full mode; lite mode leaves each null.
NOT_IN_LITE = (
    "open", "high", "low", "prev_close", "change", "change_pct", "volume", "ltq", "bid",
    "ask", "bid_qty", "ask_qty", "avg_price", "tot_buy_qty", "tot_sell_qty", "ltt", "exch_ts",
)  # fmt: skip


def _quotes(ticks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in ticks if t.get("kind") == "quote"]


def test_lite_mode_ticks_carry_the_last_price_only(
    spawn: Spawn, tmp_path: Path, redis_url: str, watch: WatchFactory
) -> None:
    emulator = start_emulator(spawn, tmp_path)
    start_marketdata(spawn, tmp_path, redis_url, emulator, MARKETDATA_DATA_MODE="lite")
    feed = watch("md:tick:*")
    feed.until(lambda w: len(w.symbols_seen()) >= len(WATCHLIST) // 2, 30, "lite ticks")
    feed.until(lambda w: len(_quotes(w.ticks())) >= 50, 30, "50 lite quotes")
    ticks = feed.ticks()
    filled = {k: sum(1 for t in ticks if t.get(k) is not None) for k in NOT_IN_LITE}
    print(f"\nLITE ticks={len(ticks)} symbols={len(feed.symbols_seen())} non-null={filled}")
    assert all(isinstance(t["ltp"], float) and t["ltp"] > 0 for t in ticks)
    assert not any(filled.values()), filled
    kinds = {t["kind"] for t in ticks}
    assert "quote" in kinds and "index" in kinds, kinds
    for t in ticks:  # the sequencer still numbers them
        assert isinstance(t["seq"], int) and t["seq"] >= 1


def test_data_mode_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETDATA_DATA_MODE", raising=False)
    assert MarketdataSettings().data_mode == "full"
    monkeypatch.setenv("MARKETDATA_DATA_MODE", "lite")
    assert MarketdataSettings().data_mode == "lite"
    monkeypatch.setenv("MARKETDATA_UPSTREAM", "sdk")
    with pytest.raises(ConfigError, match="MARKETDATA_DATA_MODE=lite needs"):
        MarketdataSettings().check()
    monkeypatch.setenv("MARKETDATA_UPSTREAM", "hsm")
    monkeypatch.setenv("MARKETDATA_DATA_MODE", "ltp")
    with pytest.raises((ConfigError, ValueError), match="MARKETDATA_DATA_MODE"):
        MarketdataSettings()
