"""Per-user quotas and distrust of Redis content, attacked on a running fleet (issue #12).

One fleet for the module, with small quotas so the attacks reach them quickly: 3
connections per user, 40 new symbols probed per user per minute, 10 distinct symbols per
user, negative verdicts kept 15 s, symbol-token calls at 0.5/s with bursts of 5. Each test
prints what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import socketio
from redis.asyncio.cluster import RedisCluster

from livews_common import names, redisconn
from livews_common.models import MAX_SEQ
from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet, poll, running_fleet
from livews_devtools.fleet_marketdata import metric_value
from livews_devtools.recorder import close_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_CONNECTIONS_PER_USER = 3
MAX_SYMBOLS_PER_USER = 10
PROBES_PER_MINUTE = 40
NEGATIVE_TTL = 15.0
RESOLVE_RATE, RESOLVE_BURST = 0.5, 5
POISON_SEQ = 2**53 - 1


@pytest.fixture(scope="module")
def hostile_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(
        tmp_path_factory.mktemp("fleet"),
        gateways=2,
        ingestors=2,
        gateway_env={
            "GATEWAY_MAX_CONNECTIONS_PER_USER": str(MAX_CONNECTIONS_PER_USER),
            "GATEWAY_PROBES_PER_MINUTE": str(PROBES_PER_MINUTE),
            "GATEWAY_MAX_SYMBOLS_PER_USER": str(MAX_SYMBOLS_PER_USER),
        },
        marketdata_env={
            "MARKETDATA_NEGATIVE_VERDICT_TTL": str(NEGATIVE_TTL),
            "MARKETDATA_RESOLVE_RATE": str(RESOLVE_RATE),
            "MARKETDATA_RESOLVE_BURST": str(RESOLVE_BURST),
        },
    )
    yield from running_fleet(fleet)


@pytest.fixture
def fleet(hostile_fleet: Fleet) -> Iterator[Fleet]:
    hostile_fleet.resume()
    yield hostile_fleet
    hostile_fleet.resume()
    hostile_fleet.assert_alive()


@pytest.fixture
async def admin(hostile_fleet: Fleet) -> AsyncIterator[aioredis.Redis]:
    client = redisconn.connect(hostile_fleet.redis_url, socket_timeout=5.0)
    try:
        yield client
    finally:
        await client.aclose()


class Socket:
    """A bare python-socketio client that records what a connect was refused with."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.refusals: list[Any] = []
        self.disconnects = 0
        self.sio.on("connect_error", self._refused)
        self.sio.on("disconnect", self._gone)

    async def _refused(self, data: Any) -> None:
        self.refusals.append(data)

    async def _gone(self, *args: Any) -> None:
        self.disconnects += 1

    async def connect(self, url: str, token: str) -> bool:
        try:
            await self.sio.connect(
                url, transports=["websocket"], auth={"token": token},
                socketio_path="/socket.io", wait_timeout=10,
            )  # fmt: skip
        except socketio.exceptions.ConnectionError:
            return False
        return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await close_client(self.sio)


def emulator_calls(fleet: Fleet) -> float:
    text = httpx.get(f"{fleet.emulator.url}/metrics", timeout=5.0).text
    return metric_value(text, "fyers_emulator_symbol_token_calls_total")


def gateway_total(fleet: Fleet, name: str, **labels: str) -> float:
    return sum(gw.metric(name, **labels) for gw in fleet.gateways if gw.process.alive)


async def negative_keys(admin: aioredis.Redis, pattern: str = "*") -> int:
    match = names.NEGATIVE_VERDICT_PREFIX + pattern
    return len([k async for k in admin.scan_iter(match=match, count=1000)])


async def test_a_junk_symbol_flood_from_one_user_stays_bounded(
    fleet: Fleet, admin: aioredis.Redis
) -> None:
    token = await fleet.login_async("XQ00001")
    sockets = [Socket() for _ in range(MAX_CONNECTIONS_PER_USER)]
    for s in sockets:
        assert await s.connect(fleet.url, token)
    info = await admin.info("memory")
    memory_before = int(info["used_memory"])
    hash_before = await admin.hlen(names.SYMBOL_VERDICTS)
    calls_before = emulator_calls(fleet)
    codes: Counter[str] = Counter()
    refused: list[str] = []
    sent = 0
    duration = 12.0
    started = time.monotonic()

    async def flood(n: int, s: Socket) -> None:
        nonlocal sent
        batch = 0
        while time.monotonic() - started < duration:
            symbols = [f"NSE:JUNK{n}X{batch}X{i}-EQ" for i in range(100)]
            batch += 1
            sent += len(symbols)
            ack = await s.sio.call("subscribe", {"symbols": symbols}, timeout=15)
            codes.update(r["code"] for r in ack["rejected"])
            refused.extend(r["symbol"] for r in ack["rejected"] if r["code"] == "invalid_symbol")
            codes["subscribed"] += len(ack["subscribed"])
            if ack["subscribed"]:  # unknown when the verdict wait ran out: let them go
                await s.sio.call("unsubscribe", {"symbols": ack["subscribed"]}, timeout=15)
            await asyncio.sleep(0.05)

    try:
        await asyncio.gather(*(flood(n, s) for n, s in enumerate(sockets)))
        elapsed = time.monotonic() - started
        await asyncio.sleep(2.0)  # verdicts of the last probes land
        stored = await negative_keys(admin, "NSE:JUNK*")
        junk_in_hash = [k async for k in admin.hscan_iter(names.SYMBOL_VERDICTS, match="NSE:JUNK*")]
        hash_after = await admin.hlen(names.SYMBOL_VERDICTS)
        memory_after = int((await admin.info("memory"))["used_memory"])
        calls = emulator_calls(fleet) - calls_before
        call_bound = RESOLVE_BURST + RESOLVE_RATE * (elapsed + 2.0) + 1
        print(
            f"\nBOUND junk flood: 1 user, {len(sockets)} sockets, {sent} junk symbols sent in "
            f"{elapsed:.1f}s; acks {dict(codes)}; negative verdicts stored {stored} (bound "
            f"{2 * PROBES_PER_MINUTE}); md:symbols {hash_before}->{hash_after} entries; "
            f"used_memory +{(memory_after - memory_before) / 1024:.0f} KiB; symbol-token calls "
            f"{calls:.0f} (bound {call_bound:.1f})"
        )
        assert codes["rate_limited"] > 0, codes
        metered = gateway_total(fleet, "livews_gateway_quota_refusals_total", quota="probes")
        assert metered >= codes["rate_limited"], metered
        assert stored <= 2 * PROBES_PER_MINUTE
        assert not junk_in_hash and hash_after <= hash_before
        assert memory_after - memory_before < 4 * 1024 * 1024
        assert calls <= call_bound
        assert all(s.disconnects == 0 for s in sockets), "the flooder is refused, not cut off"
        # A stored negative verdict answers at once, without a probe (the quota is spent).
        began = time.monotonic()
        ack = await sockets[0].sio.call("subscribe", {"symbols": refused[:1]}, timeout=15)
        took = time.monotonic() - began
        print(f"\nBOUND stored verdict: {ack['rejected']} in {took * 1000:.0f} ms")
        assert [r["code"] for r in ack["rejected"]] == ["invalid_symbol"]
    finally:
        for s in sockets:
            await s.close()

    # Negative verdicts fade after their TTL.
    faded_at = time.monotonic()
    await poll(
        lambda: _none_left(admin), NEGATIVE_TTL + 15, "junk negative verdicts to expire", 0.5
    )
    print(f"\nBOUND junk verdicts gone {time.monotonic() - faded_at:.1f}s after the flood "
          f"(TTL {NEGATIVE_TTL:.0f}s)")  # fmt: skip


async def _none_left(admin: aioredis.Redis) -> bool:
    return await negative_keys(admin, "NSE:JUNK*") == 0


async def test_a_user_over_the_connection_cap_is_refused_while_another_connects(
    fleet: Fleet,
) -> None:
    capped, other = await fleet.login_async("XQ00002"), await fleet.login_async("XQ00003")
    held = [Socket() for _ in range(MAX_CONNECTIONS_PER_USER)]
    extra, bystander, later = Socket(), Socket(), Socket()
    try:
        for s in held:  # nginx spreads them over both gateways: the cap is fleet-wide
            assert await s.connect(fleet.url, capped)
        assert not await extra.connect(fleet.url, capped)
        refusal = extra.refusals[-1] if extra.refusals else {}
        assert refusal.get("data") == {"code": "rate_limited"}, extra.refusals
        assert await bystander.connect(fleet.url, other), "another user connects"
        await held[0].close()
        began = time.monotonic()
        await poll(lambda: later.connect(fleet.url, capped), 10, "a slot after a disconnect", 0.2)
        print(
            f"\nBOUND connections per user: {MAX_CONNECTIONS_PER_USER} held over "
            f"{len(fleet.gateways)} gateways, the next refused with {refusal}; "
            f"another user connected; a freed slot reused after {time.monotonic() - began:.2f}s"
        )
    finally:
        for s in (*held, extra, bystander, later):
            await s.close()


async def test_a_users_symbols_are_capped_across_connections(fleet: Fleet) -> None:
    token = await fleet.login_async("XQ00008")
    first, second = Socket(), Socket()
    mine, theirs = list(DEFAULT_WATCHLIST[10:16]), list(DEFAULT_WATCHLIST[20:26])
    try:
        assert await first.connect(fleet.url, token) and await second.connect(fleet.url, token)
        ack = await first.sio.call("subscribe", {"symbols": mine}, timeout=15)
        assert ack["subscribed"] == mine
        ack = await second.sio.call("subscribe", {"symbols": theirs}, timeout=15)
        over = [r["symbol"] for r in ack["rejected"] if r["code"] == "too_many_subscriptions"]
        accepted = list(ack["subscribed"])
        shared = await second.sio.call("subscribe", {"symbols": mine[:2]}, timeout=15)
        await first.sio.call("unsubscribe", {"symbols": mine[2:5]}, timeout=15)
        again = await second.sio.call("subscribe", {"symbols": over}, timeout=15)
        print(
            f"\nBOUND symbols per user ({MAX_SYMBOLS_PER_USER}): 6 held on one connection, "
            f"6 more asked on another -> {len(accepted)} accepted, {len(over)} "
            f"too_many_subscriptions; a symbol already held costs nothing "
            f"({shared['subscribed']}); after 3 were released: {again['subscribed']}"
        )
        assert len(accepted) == MAX_SYMBOLS_PER_USER - len(mine) and len(over) == 2
        assert shared["subscribed"] == mine[:2] and not shared["rejected"]
        assert again["subscribed"] == over and not again["rejected"]
    finally:
        await first.close()
        await second.close()


async def publish_market(admin: aioredis.Redis, channel: str, payload: bytes) -> None:
    """Publish on a tick channel the way the ingestor does: ``SPUBLISH`` on a Cluster (the
    gateways listen with ``SSUBSCRIBE`` there), ``PUBLISH`` elsewhere."""
    if redisconn.is_cluster(admin):
        await admin.execute_command("SPUBLISH", channel, payload)
    else:
        await admin.publish(channel, payload)


def poisoned(tick: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**tick, **changes}).encode()


async def test_an_absurd_seq_does_not_silence_a_symbol(fleet: Fleet, admin: aioredis.Redis) -> None:
    symbol = DEFAULT_WATCHLIST[0]
    watcher = await fleet.client([symbol], token=await fleet.login_async("XQ00004"))
    jumps_before = gateway_total(fleet, "livews_gateway_seq_jumps_total")
    settled = await fleet.quiesce()
    tick = (await fleet.md_last())[symbol]
    bad = poisoned(tick, seq=POISON_SEQ)
    await publish_market(admin, names.tick_channel(symbol), bad)
    await admin.hset(names.LAST_TICKS, symbol, bad)
    newcomer = await fleet.client([symbol], token=await fleet.login_async("XQ00005"))
    snapshot_seq = (newcomer.rec.latest.get(symbol) or {}).get("seq")
    fleet.resume()
    began = time.monotonic()
    for rc in (watcher, newcomer):
        await poll(
            lambda rc=rc: (rc.rec.latest.get(symbol) or {}).get("seq", 0) > settled[symbol],
            20, f"genuine ticks of {symbol} after the poisoned one",
        )  # fmt: skip
    flowing = time.monotonic() - began
    jumps = gateway_total(fleet, "livews_gateway_seq_jumps_total") - jumps_before
    print(
        f"\nBOUND seq {POISON_SEQ} on md:tick and md:last: newcomer snapshot seq "
        f"{snapshot_seq}, both clients at seq {watcher.rec.latest[symbol]['seq']} / "
        f"{newcomer.rec.latest[symbol]['seq']} {flowing:.2f}s after the feed resumed; "
        f"livews_gateway_seq_jumps_total +{jumps:.0f}"
    )
    assert snapshot_seq is None or snapshot_seq < MAX_SEQ
    for rc in (watcher, newcomer):
        assert rc.rec.latest[symbol]["seq"] < MAX_SEQ
        assert rc.rec.disconnects == 0
    assert jumps >= 2, "the live message and the stored value are both counted"


async def test_a_new_leader_does_not_adopt_an_absurd_seq(
    fleet: Fleet, admin: aioredis.Redis
) -> None:
    symbol = DEFAULT_WATCHLIST[3]
    watcher = await fleet.client([symbol], token=await fleet.login_async("XQ00006"))
    settled = await fleet.quiesce()
    tick = (await fleet.md_last())[symbol]
    await admin.hset(names.LAST_TICKS, symbol, poisoned(tick, seq=POISON_SEQ))
    jumps_before = gateway_total(fleet, "livews_gateway_seq_jumps_total")
    leader = await fleet.wait_leader()
    fleet.kill(leader)
    try:
        successor = await fleet.wait_leader(20, not_=leader)
        fleet.resume()
        began = time.monotonic()
        await poll(
            lambda: (watcher.rec.latest.get(symbol) or {}).get("seq", 0) > settled[symbol],
            30, f"ticks of {symbol} from the new leader",
        )  # fmt: skip
        stored = json.loads(await admin.hget(names.LAST_TICKS, symbol))["seq"]
        print(
            f"\nBOUND takeover from a poisoned md:last: {successor} continued {symbol} at seq "
            f"{stored} (was {settled[symbol]}, poisoned {POISON_SEQ}); the client got it "
            f"{time.monotonic() - began:.2f}s after the feed resumed (the gateway confirmed "
            f"the jump first, seq_jumps_total "
            f"+{gateway_total(fleet, 'livews_gateway_seq_jumps_total') - jumps_before:.0f})"
        )
        assert settled[symbol] < stored < MAX_SEQ, "never backwards, never the absurd value"
        jumps = gateway_total(fleet, "livews_gateway_seq_jumps_total") - jumps_before
        assert jumps >= 1, "the gateway saw a jump that large before following it"
        assert watcher.rec.latest[symbol]["seq"] < MAX_SEQ
    finally:
        await fleet.restart(leader)


async def test_bad_bytes_in_md_last_never_reach_a_websocket(
    fleet: Fleet, admin: aioredis.Redis
) -> None:
    broken, mislabelled = DEFAULT_WATCHLIST[1], DEFAULT_WATCHLIST[2]
    settled = await fleet.quiesce()
    last = await fleet.md_last()
    bad_before = gateway_total(fleet, "livews_gateway_redis_bad_messages_total")
    not_utf8 = poisoned(last[broken], seq=settled[broken] + 1).replace(
        b'"symbol"', b'"\xff\xfe":1,"symbol"'
    )
    await admin.hset(names.LAST_TICKS, broken, not_utf8)
    await admin.hset(names.LAST_TICKS, mislabelled, poisoned(
        last[mislabelled], seq=settled[mislabelled] + 1, symbol="NSE:OTHER\n-EQ"
    ))  # fmt: skip
    client = await fleet.client([broken, mislabelled], token=await fleet.login_async("XQ00007"))
    await publish_market(admin, names.tick_channel(broken), not_utf8)
    held = {s: (client.rec.latest.get(s) or {}).get("seq") for s in (broken, mislabelled)}
    # The resync path: cut the gateways' subscriber connections; on reconnecting they
    # re-read md:last for every room (and must drop the same two values again).
    if redisconn.is_cluster(admin):  # the gateways subscribe on every shard's primary
        await admin.client_kill_filter(_type="pubsub", target_nodes=RedisCluster.ALL_NODES)
    else:
        await admin.client_kill_filter(_type="pubsub")
    await poll(
        lambda: gateway_total(fleet, "livews_gateway_redis_bad_messages_total") - bad_before >= 5,
        20, "the resync to read (and drop) the bad md:last values", 0.25,
    )  # fmt: skip
    held_after_resync = {s: client.rec.latest.get(s) for s in (broken, mislabelled)}
    fleet.resume()
    for symbol in (broken, mislabelled):
        await poll(
            lambda symbol=symbol: symbol in client.rec.latest, 20, f"genuine ticks of {symbol}"
        )
    bad = gateway_total(fleet, "livews_gateway_redis_bad_messages_total") - bad_before
    print(
        f"\nBOUND bad md:last values: snapshot held {held}, after a resync "
        f"{held_after_resync}; after resume the client got "
        f"{client.rec.ticks} ticks, disconnects {client.rec.disconnects}; "
        f"livews_gateway_redis_bad_messages_total +{bad:.0f}"
    )
    assert held == {broken: None, mislabelled: None}, "neither bad value was in the snapshot"
    assert client.rec.disconnects == 0 and client.sio.connected
    assert all(t["symbol"] in (broken, mislabelled) for t in client.rec.latest.values())
    assert held_after_resync == {broken: None, mislabelled: None}
    assert bad >= 5, "two stored values (snapshot, then resync) and one live message dropped"
