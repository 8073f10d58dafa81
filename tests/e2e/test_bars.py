"""One-minute bars through a whole fleet (issue #16): emulator → ingestors → Redis → gateway.

The emulator stamps ticks with wall time (its ``/admin/clock`` speeds the session clock, not
the tick timestamps), and the ingestor cuts bars by ingest time; so this fleet runs with the
test-only ``MARKETDATA_BAR_SECONDS=3`` to see several bars close within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from livews_devtools.fleet import Fleet, running_fleet
from livews_devtools.recorder import close_client

SBIN = "NSE:SBIN-EQ"
BAR_MS = 3000


@pytest.fixture(scope="module")
def bars_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(
        tmp_path_factory.mktemp("bars"), gateways=1, ingestors=2, ticks_per_second=200,
        marketdata_env={"MARKETDATA_BAR_SECONDS": str(BAR_MS // 1000)},
    )  # fmt: skip
    yield from running_fleet(fleet)


class BarsClient:
    """A python-socketio client subscribed to ``mode: "bars"`` and quotes of one symbol."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.snapshots: list[dict[str, Any]] = []
        self.bars: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []
        self.sio.on("snapshot", self.snapshots.append)
        self.sio.on("bars", self.bars.extend)
        self.sio.on("ticks", self.ticks.extend)

    async def start(self, fleet: Fleet, quotes: bool) -> None:
        token = await fleet.login_async()
        await self.sio.connect(fleet.url, transports=["websocket"], auth={"token": token},
                               wait_timeout=15)  # fmt: skip
        ack = await self.sio.call("subscribe", {"symbols": [SBIN], "mode": "bars"}, timeout=15)
        assert ack["subscribed"] == [SBIN], ack
        if quotes:
            ack = await self.sio.call("subscribe", {"symbols": [SBIN]}, timeout=15)
            assert ack["subscribed"] == [SBIN], ack

    def finals(self) -> list[dict[str, Any]]:
        return [b for b in self.bars if b["final"]]


async def _until(predicate: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_bars_snapshot_then_live_bars_whose_finals_match_the_ticks(bars_fleet: Fleet) -> None:
    fleet = bars_fleet
    watcher = BarsClient()
    await watcher.start(fleet, quotes=True)
    try:
        await _until(lambda: len(watcher.finals()) >= 4, "four final bars", 60)
        ticks = sorted(watcher.ticks, key=lambda t: t["seq"])
        by_seq = {t["seq"]: t for t in ticks}
        checked = 0
        finals = watcher.finals()
        for before, bar in itertools.pairwise(finals):
            # Only bars whose every tick this client saw (no conflation gap in between).
            seqs = range(before["seq"] + 1, bar["seq"] + 1)
            if before["seq"] not in by_seq or any(s not in by_seq for s in seqs):
                continue
            folded = [by_seq[s] for s in seqs]
            assert all(bar["start"] <= t["ingest_ts"] < bar["start"] + BAR_MS for t in folded)
            prices = [t["ltp"] for t in folded]
            assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["ticks"]) == (
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                len(folded),
            )
            assert bar["volume"] == folded[-1]["volume"] - by_seq[before["seq"]]["volume"]
            checked += 1
        print(f"\nBOUND final bars checked tick by tick against the quotes: {checked} "
              f"of {len(finals)}; live bars received: {len(watcher.bars)}")  # fmt: skip
        assert checked >= 1
        # Live bars of a minute: at most about one a second before its final.
        per_minute: dict[int, int] = {}
        for b in watcher.bars:
            if not b["final"]:
                per_minute[b["start"]] = per_minute.get(b["start"], 0) + 1
        print(f"BOUND open-bar updates per 3 s bar: max {max(per_minute.values())}")
        assert max(per_minute.values()) <= 3 + 1

        # A later client: the snapshot holds the day's bars so far, oldest first, and they
        # agree with what the first client saw final.
        late = BarsClient()
        await late.start(fleet, quotes=False)
        try:
            await _until(lambda: bool(late.snapshots), "the bars snapshot", 15)
            day = late.snapshots[0]["bars"]
            starts = [b["start"] for b in day]
            assert starts == sorted(starts) and len(set(starts)) == len(starts)
            assert all(b["final"] for b in day[:-1])
            seen = {b["start"]: b for b in finals}
            common = [b for b in day if b["start"] in seen and b["final"]]
            assert common and all(b == seen[b["start"]] for b in common)
            await _until(lambda: bool(late.bars), "a live bar after the snapshot", 15)
            assert late.bars[0]["seq"] * 2 + late.bars[0]["final"] > (
                day[-1]["seq"] * 2 + day[-1]["final"]
            )
        finally:
            await close_client(late.sio)
    finally:
        await close_client(watcher.sio)


@pytest.mark.timeout(120)
async def test_bars_continue_across_an_ingestor_failover(bars_fleet: Fleet) -> None:
    fleet = bars_fleet
    watcher = BarsClient()
    await watcher.start(fleet, quotes=False)
    try:
        await _until(lambda: len(watcher.finals()) >= 1, "a final bar", 30)
        leader = await fleet.wait_leader()
        fleet.kill(leader)
        killed = time.monotonic()
        # The bar open when the leader died: the new leader finalizes it from Redis.
        open_start = max(b["start"] for b in watcher.bars)
        await fleet.wait_leader(not_=leader)
        count = len(watcher.finals())
        await _until(lambda: len(watcher.finals()) >= count + 2, "finals after failover", 45)
        assert open_start in {b["start"] for b in watcher.finals()}
        print(f"\nRECOVERY bars: two new final bars {time.monotonic() - killed:.1f}s after "
              f"killing the leader")  # fmt: skip
        finals = watcher.finals()
        starts = [b["start"] for b in finals]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        seqs = [b["seq"] for b in finals]
        assert seqs == sorted(seqs)
    finally:
        await close_client(watcher.sio)
        await fleet.restart(leader)
