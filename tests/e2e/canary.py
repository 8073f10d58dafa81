"""A well-behaved client in a process of its own, measuring what the fleet gives it.

The abuse tests run it beside their floods (so its numbers are not inflated by the test
process's own work): ``python canary.py URL TOKEN SYMBOL,SYMBOL…``. It prints ``ready``
once subscribed with a snapshot; then each line ``report`` on stdin answers one JSON line
with what arrived since the previous report — ticks, tick latency (ingest_ts → here)
percentiles, the longest gap between frames, disconnects, stale ticks, byes — and starts a
new window. EOF on stdin ends it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

from livews_devtools.recorder import RecordingClient


class Canary(RecordingClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[float] = []

    async def _on_ticks(self, ticks: list[dict[str, Any]]) -> None:
        self.arrivals.append(time.monotonic())
        await super()._on_ticks(ticks)


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))], 1)


def _window(c: Canary, since: float, base: dict[str, int]) -> dict[str, Any]:
    now = time.monotonic()
    marks = [since, *c.arrivals, now]
    lat = c.rec.latencies_ms
    return {
        "seconds": round(now - since, 2),
        "ticks": c.rec.ticks - base["ticks"],
        "frames": len(c.arrivals),
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "max_ms": round(max(lat), 1) if lat else None,
        "max_gap_s": round(max(b - a for a, b in itertools.pairwise(marks)), 2),
        "disconnects": c.rec.disconnects - base["disconnects"],
        "stale": c.rec.stale_ticks,
        "byes": c.rec.byes,
    }


async def main(url: str, token: str, symbols: list[str]) -> None:
    async def source() -> str:
        return token

    canary = Canary(url, source, symbols)
    await canary.start()
    await asyncio.wait_for(canary.snapshot_seen.wait(), 15)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    since, base = time.monotonic(), {"ticks": canary.rec.ticks, "disconnects": 0}
    canary.rec.latencies_ms.clear()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() != "report":
            continue
        print(json.dumps(_window(canary, since, base)), flush=True)
        since = time.monotonic()
        base = {"ticks": canary.rec.ticks, "disconnects": canary.rec.disconnects}
        canary.rec.latencies_ms.clear()
        canary.arrivals.clear()
    await canary.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].split(",")))
