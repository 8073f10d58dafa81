"""Faults of a Redis Cluster under the whole fleet (issue #14; ``make test-cluster``).

The fleet (2 ingestors, 3 gateways, nginx) runs on a local 3×2 Cluster
(``LIVEWS_TEST_REDIS=cluster``; skipped otherwise). Clients through nginx hold the whole
watchlist. The fault hits the shard of the busiest tick channel (the symbol whose ``seq``
grew most over a few seconds, so its sharded ``SPUBLISH`` traffic is the heaviest):

- SIGKILL of the primary owning that channel's slot: its replica is promoted and ticks of
  that symbol reach every client again within 10 s;
- ``redis-cli --cluster reshard`` moving that slot to another primary under load: no client
  is disconnected.

After each, every client's latest value equals ``md:last`` (same ``seq``), no client ever
received a tick older than one it held, and ``md:last``'s seqs never went backwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from livews_common import names
from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet, poll
from livews_devtools.recorder import RecordingClient
from livews_devtools.redis_cluster import RedisClusterServer
from livews_devtools.redis_topology import redis_kind

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        redis_kind() != "cluster", reason="needs LIVEWS_TEST_REDIS=cluster (make test-cluster)"
    ),
]

Recovery = Callable[[str, float, float], None]
SYMBOLS = list(DEFAULT_WATCHLIST)


def _cluster(fleet: Fleet) -> RedisClusterServer:
    assert isinstance(fleet.redis, RedisClusterServer)
    return fleet.redis


async def _clients(fleet: Fleet, n: int = 3) -> list[RecordingClient]:
    """``n`` clients (spread over the gateways by nginx), each on the whole watchlist."""
    token = await fleet.login_async()
    return [await fleet.client(SYMBOLS, token=token, keep_latencies=False) for _ in range(n)]


async def _busiest(fleet: Fleet, seconds: float = 3.0) -> str:
    """The symbol whose ``seq`` grew most in ``md:last`` over ``seconds``."""
    before = {s: t["seq"] for s, t in (await fleet.md_last()).items()}
    await asyncio.sleep(seconds)
    after = {s: t["seq"] for s, t in (await fleet.md_last()).items()}
    return max(after, key=lambda s: after[s] - before.get(s, after[s]))


def _fresh(clients: list[RecordingClient], symbol: str, since_ms: float) -> bool:
    return all(
        (tick := rc.rec.latest.get(symbol)) is not None and tick["ingest_ts"] >= since_ms
        for rc in clients
    )


async def _seqs(fleet: Fleet) -> dict[str, int]:
    return {s: int(t["seq"]) for s, t in (await fleet.md_last()).items()}


async def _settled(fleet: Fleet, clients: list[RecordingClient], before: dict[str, int]) -> None:
    await fleet.quiesce()
    await fleet.assert_clients_match_md_last(clients)  # also: no stale (older) tick received
    after = await _seqs(fleet)
    backwards = {s: (seq, after.get(s)) for s, seq in before.items() if after.get(s, 0) < seq}
    assert not backwards, f"md:last seq went backwards: {backwards}"
    fleet.assert_alive()


@pytest.mark.timeout(180)
async def test_primary_of_the_busiest_channel_killed(fleet: Fleet, recovery: Recovery) -> None:
    cluster = _cluster(fleet)
    clients = await _clients(fleet)
    await fleet.wait_fresh(clients, time.time())
    symbol = await _busiest(fleet)
    channel = names.tick_channel(symbol)
    before = await _seqs(fleet)
    killed = cluster.kill_primary(channel)
    down = time.time()
    print(f"\nKILLED primary :{killed} serving {channel}")
    await asyncio.to_thread(cluster.wait_stable, 30.0)
    promoted = cluster.primary_port(channel)
    assert promoted != killed
    print(f"PROMOTED :{promoted} after {time.time() - down:.2f}s")
    await poll(lambda: _fresh(clients, symbol, down * 1000), 30, f"fresh {symbol} everywhere")
    recovery(f"fresh {symbol} ticks at every client after its primary died",
             time.time() - down, 10)  # fmt: skip
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    # The old primary comes back as the new one's replica; nothing changes for clients.
    await asyncio.to_thread(cluster.restart_node, killed)
    await asyncio.to_thread(cluster.wait_stable, 30.0)
    await _settled(fleet, clients, before)


@pytest.mark.timeout(240)
async def test_reshard_of_the_busiest_channel_under_load(fleet: Fleet, recovery: Recovery) -> None:
    cluster = _cluster(fleet)
    clients = await _clients(fleet)
    await fleet.wait_fresh(clients, time.time())
    symbol = await _busiest(fleet)
    channel = names.tick_channel(symbol)
    before = await _seqs(fleet)
    source = cluster.primary_port(channel)
    began = time.time()
    moved_to = await asyncio.to_thread(cluster.reshard, channel)
    done = time.time()
    print(f"\nRESHARDED {channel}: :{source} -> :{moved_to} in {done - began:.1f}s")
    assert moved_to != source
    await poll(lambda: _fresh(clients, symbol, done * 1000), 30, f"fresh {symbol} everywhere")
    recovery(f"fresh {symbol} ticks at every client after its slot moved",
             time.time() - done, 10)  # fmt: skip
    assert [rc.rec.disconnects for rc in clients] == [0] * len(clients)
    await _settled(fleet, clients, before)
