"""Market hours through the whole fleet (issue #15): ``market`` reaches clients' ``status`` at
the session edge; while closed (the emulator's /admin/market too) a quiet upstream is not
reconnected; a FLUSHALL is repaired by the leader rewriting md:last; and a fleet whose every
ingestor died reports ``down`` once md:status expires.

The ingestor's market clock is the test clock (MARKETDATA_MARKET_CLOCK_START/_SPEED): it starts
at 15:29:00 IST on a Friday and runs twice as fast, so 15:30 comes ~30 s after it starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livews_common import redisconn
from livews_devtools.fleet import Fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STATUS_TTL = 6.0


@pytest.fixture(scope="module")
def market_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    env = {
        "MARKETDATA_MARKET_CALENDAR": "nse",
        "MARKETDATA_MARKET_CLOCK_START": "2026-12-04T15:29:00+05:30",
        "MARKETDATA_MARKET_CLOCK_SPEED": "2",
        "MARKETDATA_STATUS_TTL_SECONDS": str(STATUS_TTL),
    }
    workdir: Path = tmp_path_factory.mktemp("market-fleet")
    with Fleet(workdir, gateways=1, ingestors=1, marketdata_env=env) as fleet:
        yield fleet


@pytest.mark.timeout(150)
async def test_market_edge_reaches_clients_then_a_dead_fleet_reads_down(
    market_fleet: Fleet,
) -> None:
    fleet = market_fleet
    rc = await fleet.client(["NSE:SBIN-EQ"])
    statuses = rc.rec.statuses
    deadline = time.monotonic() + 90
    while not any(s.get("market") == "closed" for s in statuses):
        assert time.monotonic() < deadline, f"no market closed in {statuses}"
        await asyncio.sleep(0.2)
    markets = [s.get("market") for s in statuses]
    print(f"\nBOUND status markets seen by a client: {markets}")
    if markets[0] == "open":  # the client connected before 15:30: it saw the edge itself
        assert markets.index("closed") > 0
    # Redis loses everything while the exchange is closed (no trade would refill md:last):
    # the leader re-takes its lease and writes its whole last-value map back.
    fleet.admin("market", state="closed")
    await asyncio.sleep(1.0)
    # A quiet, closed market (stall window 3 s here) is not reconnected.
    md = fleet.ingestors[0]
    stalls = md.metric("livews_marketdata_upstream_reconnects_total", reason="stall")
    await asyncio.sleep(7.0)
    quiet = md.metric("livews_marketdata_upstream_reconnects_total", reason="stall") - stalls
    print(f"BOUND stall reconnects in 7 s of a closed market (stall window 3 s): {quiet:.0f}")
    assert quiet == 0
    before = {s: t["seq"] for s, t in (await fleet.md_last()).items()}
    admin = redisconn.connect(fleet.redis_url, socket_timeout=2.0)
    try:
        await admin.flushall()
    finally:
        await admin.aclose()
    flushed = time.monotonic()
    while set(before) - set(await fleet.md_last()):
        assert time.monotonic() - flushed < 15, "md:last not rewritten"
        await asyncio.sleep(0.2)
    rewritten = time.monotonic() - flushed
    after = {s: t["seq"] for s, t in (await fleet.md_last()).items()}
    print(f"BOUND md:last rewritten ({len(after)} symbols) {rewritten:.1f}s after FLUSHALL")
    assert all(after[s] >= before[s] for s in before)
    # Every ingestor dies without a last word: md:status expires, gateways say down.
    fleet.kill(fleet.ingestors[0].process.name)
    killed = time.monotonic()
    while not statuses or statuses[-1].get("upstream") != "down":
        assert time.monotonic() - killed < STATUS_TTL + 15, f"never down: {statuses[-3:]}"
        await asyncio.sleep(0.2)
    took = time.monotonic() - killed
    print(f"BOUND client status down {took:.1f}s after the only ingestor was killed "
          f"(md:status TTL {STATUS_TTL:.0f} s, gateway poll 3 s)")  # fmt: skip
    assert await fleet.md_status() is None
    assert took <= STATUS_TTL + 3 + 3  # TTL + one poll + margin for a busy machine
