"""Faults of the fleet's own parts: Redis, the ingestor leader, gateways, the JWKS endpoint.

Each test gets a fresh fleet (the fault damages it), keeps recording clients connected
through nginx across the fault, states its recovery bound, and ends with every client
holding exactly what ``md:last`` holds and no process having exited on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import redis
import socketio

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet, poll
from livews_devtools.fleet_gateway import TokenMint
from livews_devtools.recorder import RecordingClient, close_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Recovery = Callable[[str, float, float], None]
SYMBOLS = list(DEFAULT_WATCHLIST)


async def _clients(fleet: Fleet, n: int = 3, per: int = 6) -> list[RecordingClient]:
    """``n`` clients of one signed-in user, each on its own slice of the watchlist."""
    token = await fleet.login_async()
    return [await fleet.client(SYMBOLS[i * per : (i + 1) * per], token=token) for i in range(n)]


async def _settled(fleet: Fleet, clients: list[RecordingClient]) -> None:
    """The end of every fault test: ticks stop, every client holds md:last, nobody died."""
    await fleet.quiesce()
    await fleet.assert_clients_match_md_last(clients)
    fleet.assert_alive()


async def _count_last(fleet: Fleet, want: int) -> bool:
    try:
        return len(await fleet.md_last()) >= want
    except redis.RedisError:
        return False


def _status_now(clients: list[RecordingClient], state: str) -> bool:
    return all(rc.rec.statuses and rc.rec.statuses[-1].get("upstream") == state for rc in clients)


def _saw_status(clients: list[RecordingClient], state: str) -> bool:
    return all(any(s.get("upstream") == state for s in rc.rec.statuses) for rc in clients)


@pytest.mark.timeout(120)
async def test_redis_restart(fleet: Fleet, recovery: Recovery) -> None:
    clients = await _clients(fleet)
    await fleet.wait_fresh(clients, time.time())
    fleet.kill("redis")
    # Gateways keep their clients and tell them the feed is degraded (CONTRACT §4).
    await poll(lambda: _saw_status(clients, "degraded"), 15, "status degraded at every client")
    await fleet.restart("redis")
    back = time.time()
    recovery("fresh ticks at every client after Redis returned", await fleet.wait_fresh(
        clients, back, within=20), 10)  # fmt: skip
    # The restarted Redis is empty: md:last is whole again once the leader rewrote it.
    watchlist = len(DEFAULT_WATCHLIST)
    await poll(lambda: _count_last(fleet, watchlist), 20, "md:last complete again")
    recovery("md:last complete again after the restart", time.time() - back, 10)
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    await poll(lambda: _status_now(clients, "up"), 15, "status up again at every client")
    # A client arriving now gets its snapshot from md:last as refilled so far (the restarted
    # Redis lost it; the leader rewrote what ticked during the outage, the rest refills as
    # symbols tick: docs/resilience.md).
    late = await fleet.client(SYMBOLS[:6])
    assert late.rec.latest, "empty snapshot after the restart"
    await _settled(fleet, [*clients, late])


@pytest.mark.timeout(120)
async def test_redis_paused_longer_than_timeouts(fleet: Fleet, recovery: Recovery) -> None:
    # CLIENT PAUSE ALL for 10 s: longer than every service's Redis socket timeout (≤ 5 s),
    # the gateways' ping deadline (3 s) and the leader lease (2 s).
    clients = await _clients(fleet)
    await fleet.wait_fresh(clients, time.time())
    before = {rc.symbols[0]: rc.rec.latest[rc.symbols[0]]["seq"] for rc in clients}
    pause = 10.0
    await fleet.pause_redis(pause)
    resumed = time.time() + pause
    await poll(lambda: _saw_status(clients, "degraded"), 15, "status degraded at every client")
    recovery("fresh ticks at every client after the pause ended", await fleet.wait_fresh(
        clients, resumed, within=30), 10)  # fmt: skip
    await poll(lambda: _status_now(clients, "up"), 15, "status up again at every client")
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    # seq went on from where it was (no leader restarted the count).
    assert all(rc.rec.latest[s]["seq"] > seq for rc in clients for s, seq in before.items()
               if s in rc.symbols)  # fmt: skip
    await _settled(fleet, clients)


@pytest.mark.timeout(120)
async def test_ingestor_leader_killed(fleet: Fleet, recovery: Recovery) -> None:
    clients = await _clients(fleet)
    await fleet.wait_fresh(clients, time.time())
    leader = await fleet.wait_leader()
    fleet.kill(leader)  # SIGKILL: no lease release, the standby waits out the 2 s TTL
    killed = time.time()
    standby = await fleet.wait_leader(not_=leader)
    recovery("standby serving fresh ticks to every client after kill -9",
             await fleet.wait_fresh(clients, killed, within=30), 10)  # fmt: skip
    # The killed one comes back as the standby; the new leader keeps the lease.
    await fleet.restart(leader)
    assert fleet.leader() == standby
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    await _settled(fleet, clients)


async def _spread(fleet: Fleet, per_gateway: int = 2, most: int = 15) -> list[RecordingClient]:
    """Clients through nginx until every gateway holds at least ``per_gateway`` of them."""
    token = await fleet.login_async()
    clients: list[RecordingClient] = []
    while len(clients) < most:
        counts = fleet.connections()
        if len(counts) == len(fleet.gateways) and min(counts.values()) >= per_gateway:
            break
        i = len(clients) % 8
        clients.append(await fleet.client(SYMBOLS[i * 6 : (i + 1) * 6], token=token))
    assert min(fleet.connections().values()) >= 1, fleet.connections()
    return clients


async def _all_back(fleet: Fleet, clients: list[RecordingClient], expect_total: int) -> None:
    def back() -> bool:
        connected = all(rc.sio.connected and rc.snapshot_seen.is_set() for rc in clients)
        return connected and sum(fleet.connections().values()) == expect_total

    await poll(back, 20, "every client reconnected with a snapshot", every=0.1)


@pytest.mark.timeout(120)
async def test_gateway_killed_and_another_drained(fleet: Fleet, recovery: Recovery) -> None:
    clients = await _spread(fleet)
    await fleet.wait_fresh(clients, time.time())
    counts = fleet.connections()
    victim = max(counts, key=lambda name: counts[name])
    fleet.kill(victim)
    killed = time.time()
    await poll(lambda: sum(rc.rec.disconnects for rc in clients) >= counts[victim], 10,
               f"the {counts[victim]} clients of {victim} noticing")  # fmt: skip
    await _all_back(fleet, clients, len(clients))
    recovery(f"{counts[victim]} clients of a killed gateway reconnected with fresh ticks",
             await fleet.wait_fresh(clients, killed, within=20), 10)  # fmt: skip

    counts = fleet.connections()
    drained = max(counts, key=lambda name: counts[name])
    byes_before = sum(len(rc.rec.byes) for rc in clients)
    fleet.signal(drained)  # SIGTERM: bye server_shutdown, then exit
    began = time.time()
    proc = fleet.procs[drained]
    await poll(lambda: not proc.alive, 15, f"{drained} exiting after SIGTERM")
    assert proc.proc is not None and proc.proc.returncode == 0, proc.log_tail()
    byes = [b for rc in clients for b in rc.rec.byes][byes_before:]
    assert len(byes) >= counts[drained]
    assert all(b["code"] == "server_shutdown" and b["reconnect"] is True for b in byes), byes
    await _all_back(fleet, clients, len(clients))
    recovery(f"{counts[drained]} clients of a drained gateway reconnected with fresh ticks",
             await fleet.wait_fresh(clients, began, within=20), 10)  # fmt: skip
    assert all(rc.rec.stale_ticks == 0 for rc in clients)

    for name in (victim, drained):
        await fleet.restart(name)
    await _settled(fleet, clients)


async def _refused(url: str, token: str) -> tuple[float, object]:
    """Connect with ``token`` expecting a refusal: (seconds it took, the connect_error data)."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[object] = []
    sio.on("connect_error", lambda data=None: errors.append(data))
    began = time.monotonic()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=10)
    took = time.monotonic() - began
    await close_client(sio)
    return took, errors[-1] if errors else None


@pytest.mark.timeout(120)
async def test_jwks_endpoint_down(fleet: Fleet, recovery: Recovery) -> None:
    token_a = await fleet.login_async("XA00001")
    token_b = await fleet.login_async("XB00002")  # issued before the outage, used during it
    clients = [await fleet.client(SYMBOLS[:6], token=token_a)]
    fleet.stop("auth")  # the JWKS endpoint (and sign-in) is gone
    stopped = time.time()
    # Existing sessions continue.
    await fleet.wait_fresh(clients, stopped)
    # A new connection with a token signed by a key the gateways hold is accepted.
    late = await fleet.client(SYMBOLS[6:12], token=token_b)
    clients.append(late)
    # One they cannot verify (unknown kid; the JWKS refetch fails) is refused cleanly.
    took, data = await _refused(fleet.url, TokenMint().mint())
    assert isinstance(data, dict) and data.get("data") == {"code": "unauthorized"}, data
    assert took < 5, f"refusal took {took:.1f}s"
    # Signing in needs auth: nginx answers 502 at once, nothing hangs.
    async with httpx.AsyncClient(base_url=fleet.url, timeout=5) as http:
        assert (await http.get("/auth/login")).status_code == 502
    assert all(g.process.alive for g in fleet.gateways)
    await fleet.wait_fresh(clients, time.time())

    back_at = time.monotonic()
    await fleet.restart("auth")
    fresh = await fleet.client(SYMBOLS[12:18], token=await fleet.login_async("XC00003"))
    clients.append(fresh)
    recovery("auth restarted, a new sign-in connected", time.monotonic() - back_at, 15)
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    await _settled(fleet, clients)
