"""Upstream faults (the emulator's controls) against one fleet shared by this module.

These do not damage the fleet: each test starts from the emulator's defaults, keeps
recording clients connected through nginx, states its recovery bound, and ends with every
client holding exactly ``md:last`` and no process having exited on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from livews_common import names, redisconn
from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet, poll
from livews_devtools.recorder import RecordingClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Recovery = Callable[[str, float, float], None]
SYMBOLS = list(DEFAULT_WATCHLIST)


@pytest.fixture
def fleet(shared_fleet: Fleet) -> Iterator[Fleet]:
    shared_fleet.admin("reset")  # the fleet's tick rate, no faults
    yield shared_fleet
    shared_fleet.admin("reset")


async def _clients(fleet: Fleet) -> list[RecordingClient]:
    token = await fleet.login_async()
    clients = [await fleet.client(SYMBOLS[i * 6 : (i + 1) * 6], token=token) for i in range(3)]
    await fleet.wait_fresh(clients, time.time())
    return clients


async def _settled(fleet: Fleet, clients: list[RecordingClient]) -> None:
    await fleet.quiesce()
    await fleet.assert_clients_match_md_last(clients)
    fleet.assert_alive()
    # Upstream trouble never reaches the browser connection.
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)


def _reconnects(fleet: Fleet, leader: str, reason: str) -> float:
    return fleet.ingestor(leader).metric(
        "livews_marketdata_upstream_reconnects_total", reason=reason
    )


def _saw(clients: list[RecordingClient], *states: str) -> bool:
    return all(any(s.get("upstream") in states for s in rc.rec.statuses) for rc in clients)


@pytest.mark.timeout(90)
async def test_upstream_drop(fleet: Fleet, recovery: Recovery) -> None:
    clients = await _clients(fleet)
    leader = await fleet.wait_leader()
    before = _reconnects(fleet, leader, "dropped")
    for _ in range(3):
        fleet.admin("drop")
        dropped = time.time()
        recovery("fresh ticks at every client after an upstream drop",
                 await fleet.wait_fresh(clients, dropped + 0.05, within=20), 5)  # fmt: skip
    assert _reconnects(fleet, leader, "dropped") >= before + 3
    await _settled(fleet, clients)


@pytest.mark.timeout(90)
async def test_upstream_stall(fleet: Fleet, recovery: Recovery) -> None:
    # The fleet's ingestors call 3 s without data a stall; the emulator stalls for 6 s.
    clients = await _clients(fleet)
    leader = await fleet.wait_leader()
    before = _reconnects(fleet, leader, "stall")
    fleet.admin("stall", seconds=6)
    ends = time.time() + 6
    await poll(lambda: _saw(clients, "degraded", "down"), 10, "status degraded at every client")
    recovery("fresh ticks at every client after a 6 s stall ended",
             await fleet.wait_fresh(clients, ends, within=20), 5)  # fmt: skip
    await poll(lambda: all(rc.rec.statuses[-1]["upstream"] == "up" for rc in clients), 10,
               "status up again")  # fmt: skip
    assert _reconnects(fleet, leader, "stall") >= before + 1
    await _settled(fleet, clients)


@pytest.mark.timeout(90)
async def test_upstream_garbage(fleet: Fleet, recovery: Recovery) -> None:
    clients = await _clients(fleet)
    leader = await fleet.wait_leader()
    for _ in range(3):
        fleet.admin("garbage", count=200)
    sent = time.time()
    recovery("fresh ticks at every client after 600 garbage frames",
             await fleet.wait_fresh(clients, sent, within=20), 5)  # fmt: skip
    assert await fleet.wait_leader() == leader  # garbage costs neither the lease nor a crash
    await _settled(fleet, clients)


@pytest.mark.timeout(90)
async def test_feed_token_expiry_renewed_through_auth(fleet: Fleet, recovery: Recovery) -> None:
    # The emulator expires every access token and closes the data socket; the ingestor asks
    # auth to renew (auth:feed:renew); auth renews with the refresh token and the PIN; the
    # ingestor reconnects with the new token.
    clients = await _clients(fleet)
    leader = await fleet.wait_leader()
    store = redisconn.connect_sync(fleet.redis_url)
    try:
        sealed = store.get(names.FEED_TOKEN)
        fleet.admin("expire-tokens")
        expired = time.time()
        recovery("fresh ticks at every client after the feed token expired",
                 await fleet.wait_fresh(clients, expired, within=30), 15)  # fmt: skip
        assert store.get(names.FEED_TOKEN) != sealed, "auth did not renew the feed token"
    finally:
        store.close()
    md = fleet.ingestor(leader)
    assert md.metric("livews_marketdata_token_renew_requests_total") >= 1
    assert _reconnects(fleet, leader, "token_expired") >= 1
    await _settled(fleet, clients)
