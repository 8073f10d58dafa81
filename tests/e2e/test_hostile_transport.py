"""The gateway's transport under attack: binary floods, squatters, event floods, one address.

One fleet for the module (one gateway, behind the repository's nginx) with admission limits
small enough to reach in a test and the inbound budget at its production defaults.
Attackers connect straight to the gateway or through nginx, each from its own loopback
source address (127.0.0.x) so that the per-address limits see different clients. Every
test prints what it measured (``BOUND …``) and asserts the bound.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet
from livews_devtools.processes import ProcessFailed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_CONNECTIONS = 12
MAX_PENDING = 6
PENDING_SECONDS = 3.0
ADDRESS_MAX = 4
HANDSHAKE_BURST = 10
GATEWAY_ENV = {
    "GATEWAY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "GATEWAY_MAX_PENDING": str(MAX_PENDING),
    "GATEWAY_PENDING_SECONDS": str(PENDING_SECONDS),
    "GATEWAY_ADDRESS_MAX_CONNECTIONS": str(ADDRESS_MAX),
    "GATEWAY_ADDRESS_HANDSHAKE_RATE": "2",
    "GATEWAY_ADDRESS_HANDSHAKE_BURST": str(HANDSHAKE_BURST),
    # The inbound budget at its production defaults (the test fleet's env raises them).
    "GATEWAY_INBOUND_MESSAGE_RATE": "20",
    "GATEWAY_INBOUND_MESSAGE_BURST": "60",
}
#: Bounds, with margins for a 2-core machine shared with four other engineers' tests.
RSS_BOUND_MB = 20.0
P99_BOUND_MS = 500.0
CUT_OFF_BOUND_S = 10.0
HOSTILE_BYTES = 100 * 2**20


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp("fleet"), gateways=1, ingestors=1, gateway_env=GATEWAY_ENV)
    try:
        f.start()
    except ProcessFailed as exc:
        f.close()
        raise AssertionError(f"the fleet did not start: {exc}") from None
    try:
        yield f
    finally:
        f.close()


def _ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"


async def _open(port: int, source: str, headers: dict[str, str] | None = None) -> ClientConnection:
    """An Engine.IO websocket session from ``source`` (a loopback address), OPEN read."""
    ws = await connect(
        _ws_url(port), open_timeout=10, max_size=None, ping_interval=None,
        local_addr=(source, 0), additional_headers=headers,
    )  # fmt: skip
    opening = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(opening, str) and opening.startswith("0{"), opening
    return ws


async def _recv(ws: ClientConnection, wait: float = 10.0) -> str | bytes:
    """The next Socket.IO-level packet (Engine.IO pings answered on the way)."""
    while True:
        msg = await asyncio.wait_for(ws.recv(), wait)
        if msg == "2":
            await ws.send("3")
            continue
        return msg


async def _authorize(ws: ClientConnection, token: str) -> None:
    await ws.send("40" + json.dumps({"token": token}))
    answer = await _recv(ws)
    assert isinstance(answer, str) and answer.startswith("40"), answer


async def _refused_status(port: int, source: str, headers: dict[str, str] | None = None) -> int:
    """0 when a session opens (it is closed again), else the HTTP status it was refused with."""
    try:
        ws = await _open(port, source, headers)
    except InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 0


async def _ready(url: str) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(f"{url}/readyz")
    return r.status_code, r.json().get("reason", "")


async def _close_all(sockets: list[ClientConnection]) -> None:
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    sockets.clear()


async def _wait_for(check: Any, within: float, what: str) -> float:
    """Poll ``check()`` (a coroutine function) until true; seconds it took."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < within, f"{what}: not within {within}s"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


# --- 1. binary -----------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_hostile_binary_stream_is_cut_off_and_memory_stays_bounded(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    proc = psutil.Process(gw.process.pid)
    token = await fleet.login_async("XH00001")
    frame = os.urandom(60 * 1024)  # each under the 64 KiB message limit
    b64 = "b" + base64.b64encode(os.urandom(45 * 1024)).decode()
    variants: dict[str, tuple[str | None, str | bytes]] = {
        # The attack: a header announcing a million attachments, then the frames.
        "BINARY_EVENT+attachments": ('451000000-["subscribe",{"_placeholder":true,"num":0}]',
                                     frame),
        "binary frames": (None, frame),
        "Engine.IO base64 text": (None, b64),
    }  # fmt: skip
    rss0 = proc.memory_info().rss
    peak = rss0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, (header, payload) in variants.items():
            ws = await _open(gw.port, "127.0.0.40")
            await _authorize(ws, token)
            sent, began = 0, time.monotonic()
            with contextlib.suppress(ConnectionClosed):
                if header is not None:
                    await ws.send(header)
                    sent += len(header)
                while sent < HOSTILE_BYTES:
                    await asyncio.wait_for(ws.send(payload), 10)
                    sent += len(payload)
            await asyncio.wait_for(ws.wait_closed(), 10)
            results[name] = {
                "sent_mb": round(sent / 2**20, 2),
                "closed_after_s": round(time.monotonic() - began, 2),
                "close_code": ws.close_code,
            }
    finally:
        stop.set()
        await sampler
    growth_mb = (peak - rss0) / 2**20
    refused = gw.metric("livews_gateway_inbound_refused_total", reason="binary")
    print(f"\nBOUND binary: RSS growth {growth_mb:.1f} MB (bound {RSS_BOUND_MB:.0f} MB), "
          f"per attack {results}, refused(binary) {refused:.0f}")  # fmt: skip
    for name, r in results.items():
        assert r["sent_mb"] < HOSTILE_BYTES / 2**20, f"{name}: the gateway kept reading: {r}"
        # 1003 when the close frame is read; 1006 when the attacker's own writes after the
        # gateway closed made its kernel reset the connection first.
        assert r["close_code"] in (1003, 1006), f"{name}: not closed: {r}"
    assert growth_mb < RSS_BOUND_MB
    assert refused >= len(variants)


# --- 2. squatters and admission -------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_squatters_cannot_keep_a_valid_user_out(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    squatters: list[ClientConnection] = []
    opened: dict[ClientConnection, float] = {}
    statuses: Counter[int] = Counter()
    # From one address: only ADDRESS_MAX at a time; then from several.
    sources = ["127.0.0.2"] * (ADDRESS_MAX + 2) + [f"127.0.0.{i}" for i in range(3, 8)] * 3
    for source in sources:
        try:
            ws = await _open(gw.port, source)
        except InvalidStatus as exc:
            statuses[exc.response.status_code] += 1
            continue
        squatters.append(ws)
        opened[ws] = time.monotonic()
    statuses[101] = len(squatters)
    assert statuses[429] == 2, statuses  # the one address over its limit
    assert len(squatters) > MAX_PENDING, "the squatters must outnumber the pending cap"

    # A refused connect closes its session at once (after its connect_error).
    bad = await _open(gw.port, "127.0.0.8")
    await bad.send('40{"token":"x.y.z"}')
    answer = await _recv(bad)
    began = time.monotonic()
    await asyncio.wait_for(bad.wait_closed(), 5)
    refused_closed_s = time.monotonic() - began
    assert isinstance(answer, str) and answer.startswith("44"), answer

    # The valid user, through nginx, while the squatters hold their sockets.
    began = time.monotonic()
    user = await fleet.client([DEFAULT_WATCHLIST[0]], within=10)
    user_connect_s = time.monotonic() - began
    assert user.rec.connect_errors == [], user.rec.connect_errors
    ready = await _ready(gw.url)
    pending = gw.metric("livews_gateway_pending_sessions")
    assert ready == (200, "ok"), ready
    assert pending <= MAX_PENDING, pending

    # Every squatter is closed: evicted by newer ones, or at the deadline.
    last = 0.0
    for ws in squatters:
        await asyncio.wait_for(ws.wait_closed(), PENDING_SECONDS + 10)
        last = max(last, time.monotonic() - opened[ws])
    evicted = gw.metric("livews_gateway_pending_closed_total", reason="evicted")
    expired = gw.metric("livews_gateway_pending_closed_total", reason="deadline")

    # /readyz is truthful at the authorized limit: not ready exactly when a user is refused.
    clients: list[ClientConnection] = []
    token = await fleet.login_async("XH00002")
    try:
        for i in range(MAX_CONNECTIONS - 1):  # the valid user holds one slot
            ws = await _open(gw.port, f"127.0.0.{20 + i // ADDRESS_MAX}")
            await _authorize(ws, token)
            clients.append(ws)
        full = await _ready(gw.url)
        over = await _refused_status(gw.port, "127.0.0.30")
        await clients.pop().close()

        async def ready_again() -> bool:
            return (await _ready(gw.url))[0] == 200

        recovered_s = await _wait_for(ready_again, 10, "ready after a client left")
    finally:
        await _close_all(clients)
    print(f"\nBOUND squatters: {len(squatters)} squatters (pending cap {MAX_PENDING}), handshakes "
          f"{dict(statuses)}; valid user connected in {user_connect_s:.2f}s; pending gauge "
          f"{pending:.0f}; readyz while squatted {ready}; last squatter closed "
          f"{last:.1f}s after opening (deadline {PENDING_SECONDS:g}s); evicted {evicted:.0f}, "
          f"expired {expired:.0f}; refused connect closed in {refused_closed_s:.2f}s; at the "
          f"limit readyz {full} and a new handshake {over}; ready again in "
          f"{recovered_s:.2f}s")  # fmt: skip
    assert last < PENDING_SECONDS + 5
    assert refused_closed_s < 3
    assert full == (503, "at connection limit") and over == 503


# --- 3. event flood -----------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_event_flood_is_cut_off_and_other_clients_keep_their_latency(
    fleet: Fleet,
) -> None:
    gw = fleet.gateways[0]
    proc = psutil.Process(gw.process.pid)
    victim = await fleet.client(list(DEFAULT_WATCHLIST[:8]), within=15)
    await asyncio.sleep(3)
    before = len(victim.rec.latencies_ms)
    token = await fleet.login_async("XH00003")
    ws = await _open(gw.port, "127.0.0.50")
    await _authorize(ws, token)
    events = [
        '42["no-such-event",{}]',
        '42["subscribe",{"symbols":["NSE:SBIN-EQ"]}]',
        '421["unsubscribe",{"symbols":["NSE:SBIN-EQ"]}]',
        '422["x' + "y" * 200 + '",[1,2,3]]',
        '423["auth:refresh",{"token":"a.b.c"}]',
    ]
    byes: list[dict[str, Any]] = []
    acks = 0

    async def read() -> None:
        nonlocal acks
        with contextlib.suppress(ConnectionClosed):
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith('42["bye"'):
                    byes.append(json.loads(msg[2:])[1])
                elif isinstance(msg, str) and msg.startswith("43"):
                    acks += 1

    reader = asyncio.create_task(read())
    cpu0, began, sent = proc.cpu_times(), time.monotonic(), 0
    with contextlib.suppress(ConnectionClosed):
        while time.monotonic() - began < 30:
            for event in events:
                await ws.send(event)
                sent += 1
            await asyncio.sleep(0)  # let the reader run (a client that reads sees its bye)
    await asyncio.wait_for(ws.wait_closed(), 10)
    cut_off_s = time.monotonic() - began
    await asyncio.wait_for(reader, 5)
    cpu1 = proc.cpu_times()
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / max(cut_off_s, 0.001)
    await asyncio.sleep(2)  # the victim keeps receiving after the flood too
    during = sorted(victim.rec.latencies_ms[before:])
    p99 = during[int(len(during) * 0.99) - 1] if during else float("nan")
    dropped = gw.metric("livews_gateway_inbound_refused_total", reason="rate")
    print(f"\nBOUND event flood: {sent} events sent, {acks} answered, {dropped:.0f} dropped "
          f"over budget; cut off after {cut_off_s:.2f}s with {byes}; gateway CPU "
          f"{cpu * 100:.0f}% of a core meanwhile; victim: {len(during)} ticks, p99 "
          f"{p99:.0f} ms (bound {P99_BOUND_MS:.0f}), disconnects "
          f"{victim.rec.disconnects}")  # fmt: skip
    assert byes and byes[-1]["code"] == "rate_limited", byes
    assert cut_off_s < CUT_OFF_BOUND_S
    assert acks <= 100, "the budget (burst 60, 20/s) bounds what the gateway dispatches"
    assert during and p99 < P99_BOUND_MS
    assert victim.rec.disconnects == 0 and victim.rec.stale_ticks == 0


# --- 4. per-address limits ----------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_per_address_limits_refuse_one_address_and_serve_another(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    token = await fleet.login_async("XH00004")
    held: list[ClientConnection] = []
    out: dict[str, Any] = {}
    try:
        # Open connections, straight to the gateway.
        for _ in range(ADDRESS_MAX):
            ws = await _open(gw.port, "127.0.0.60")
            await _authorize(ws, token)
            held.append(ws)
        out["direct: over the limit"] = await _refused_status(gw.port, "127.0.0.60")
        out["direct: another address"] = await _refused_status(gw.port, "127.0.0.61")
        # X-Forwarded-For from an untrusted peer is ignored: it cannot pick a new address.
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        out["direct: spoofed XFF"] = await _refused_status(gw.port, "127.0.0.60", spoofed)
        await _close_all(held)

        # Through nginx (a trusted proxy): the address is the one nginx saw.
        nginx = fleet.nginx.port
        for _ in range(ADDRESS_MAX):
            ws = await _open(nginx, "127.0.0.62")
            await _authorize(ws, token)
            held.append(ws)
        out["nginx: over the limit"] = await _refused_status(nginx, "127.0.0.62")
        out["nginx: another address"] = await _refused_status(nginx, "127.0.0.63")
        await _close_all(held)

        # Handshakes per second: a burst, then the rate.
        rate: Counter[int] = Counter()
        for _ in range(HANDSHAKE_BURST + 10):
            rate[await _refused_status(gw.port, "127.0.0.64")] += 1
        out["handshake rate, one address"] = dict(rate)
        out["handshake rate, another address"] = await _refused_status(gw.port, "127.0.0.65")
    finally:
        await _close_all(held)
    refusals = {
        reason: gw.metric("livews_gateway_refused_handshakes_total", reason=reason)
        for reason in ("address_connections", "address_rate")
    }
    print(f"\nBOUND per-address (limit {ADDRESS_MAX} open, burst {HANDSHAKE_BURST} then 2/s): "
          f"{out}; refusals {refusals}")  # fmt: skip
    assert out["direct: over the limit"] == 429 and out["direct: another address"] == 0
    assert out["direct: spoofed XFF"] == 429
    assert out["nginx: over the limit"] == 429 and out["nginx: another address"] == 0
    assert rate[429] >= 1 and rate[0] >= HANDSHAKE_BURST - 1, rate
    assert out["handshake rate, another address"] == 0
    assert all(v >= 1 for v in refusals.values()), refusals
