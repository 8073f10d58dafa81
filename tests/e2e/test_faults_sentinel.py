"""The whole fleet on a Sentinel-managed Redis (primary + 2 replicas + 3 Sentinels): faults.

Every service reaches Redis through ``redis+sentinel://…/livews`` (``redisconn.connect``).
SIGKILL of the primary: the Sentinels promote a replica; the ingestor leader's writes, the
gateways' subscriptions and stores, auth's sessions all follow it; ticks reach every client
again within 10 s, nobody is disconnected, ``seq`` never goes backwards and every client ends
holding exactly ``md:last``. Runs on Sentinel whatever ``LIVEWS_TEST_REDIS`` says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet, _fleet_fixture, poll
from livews_devtools.recorder import RecordingClient
from livews_devtools.redis_sentinel import RedisSentinelServer
from livews_devtools.redis_topology import TEST_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Recovery = Callable[[str, float, float], None]
SYMBOLS = list(DEFAULT_WATCHLIST)


@pytest.fixture
def sentinel_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """The usual fleet (two ingestors, three gateways, nginx, auth) on a Sentinel topology."""
    monkeypatch.setenv(TEST_ENV, "sentinel")
    yield from _fleet_fixture(tmp_path / "fleet")


def _seqs(clients: list[RecordingClient]) -> list[dict[str, int]]:
    return [{s: int(t["seq"]) for s, t in rc.rec.latest.items()} for rc in clients]


def _status_now(clients: list[RecordingClient], state: str) -> bool:
    return all(rc.rec.statuses and rc.rec.statuses[-1].get("upstream") == state for rc in clients)


async def _failover(
    fleet: Fleet, recovery: Recovery, fault: Callable[[RedisSentinelServer], int], what: str
) -> None:
    """Clients on both gateways; ``fault`` (returning the old primary's port) under load;
    then the checks every Sentinel failover must pass."""
    server = fleet.redis
    assert isinstance(server, RedisSentinelServer)
    token = await fleet.login_async()
    clients = [await fleet.client(SYMBOLS[i * 5 : (i + 1) * 5], token=token) for i in range(4)]
    await fleet.wait_fresh(clients, time.time())
    assert len([n for n in fleet.connections().values() if n]) >= 2, fleet.connections()
    before = _seqs(clients)

    old = fault(server)
    since = time.time()
    recovery(f"fresh ticks at every client after {what}",
             await fleet.wait_fresh(clients, since, within=30), 10)  # fmt: skip
    await asyncio.to_thread(server.wait_stable, 30)
    promoted = server.primary_port()
    assert promoted != old
    # Not what clients see (they had ticks again above); an election the Sentinels lose is
    # retried after 2 x failover-timeout.
    recovery(f"Sentinels agreeing on the promoted primary after {what}", time.time() - since, 30)

    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    # seq went on from where each client was (a tick lost with the old primary is replaced by
    # a newer one, never by an older one).
    after = _seqs(clients)
    assert all(a[s] >= b[s] for a, b in zip(after, before, strict=True) for s in b), (before, after)
    await poll(lambda: _status_now(clients, "up"), 20, "status up at every client")
    assert fleet.leader() is not None, "no ingestor holds the lease on the new primary"

    # The old node is (back) a replica of the new primary; nothing changes for clients.
    await asyncio.to_thread(server.restart_node, old)
    await asyncio.to_thread(server.wait_stable, 30)
    assert server.primary_port() == promoted

    # A user signing in now (auth's sessions and rate windows, the gateway's quotas: all on
    # the promoted primary) gets a snapshot from its md:last.
    late = await fleet.client(SYMBOLS[:5])
    assert late.rec.latest, "empty snapshot after the failover"
    await fleet.quiesce()
    await fleet.assert_clients_match_md_last([*clients, late])
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    fleet.assert_alive()
    _no_readonly_errors(fleet)


def _no_readonly_errors(fleet: Fleet) -> None:
    """No service logged a write refused by a replica (a stale connection to the old primary)."""
    logs = {name: proc.log_tail(100_000) for name, proc in fleet.procs.items()}
    assert not [name for name, text in logs.items() if "READONLY" in text.upper()], logs.keys()


@pytest.mark.timeout(180)
async def test_sentinel_primary_killed(sentinel_fleet: Fleet, recovery: Recovery) -> None:
    await _failover(sentinel_fleet, recovery, RedisSentinelServer.kill_primary,
                    "the Sentinel primary was killed")  # fmt: skip


@pytest.mark.timeout(180)
async def test_sentinel_switchover(sentinel_fleet: Fleet, recovery: Recovery) -> None:
    # A planned switchover (RedisSentinelServer.switchover, as docs/operations.md describes):
    # the old primary stays up and turns replica; writes that reach it answer READONLY, which
    # every service must take as "the primary moved", not as a lasting failure.
    await _failover(sentinel_fleet, recovery, RedisSentinelServer.switchover,
                    "a Sentinel switchover")  # fmt: skip
