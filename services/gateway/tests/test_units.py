"""Unit tests on the memory implementations: rooms, fan-out, limits, frames, parsing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from socketio import packet as sio_packet
from websockets.protocol import State
from websockets.server import ServerProtocol

from livews_gateway.bus import MemoryBus
from livews_gateway.clients import Client, Entry
from livews_gateway.errors import BadRequest
from livews_gateway.fanout import Fanout, conflate
from livews_gateway.frames import batch_frame, event_frame, snapshot_frame
from livews_gateway.limits import TokenBucket
from livews_gateway.metrics import BucketHistogram, GatewayMetrics
from livews_gateway.outlet import MemoryOutlet
from livews_gateway.requests import parse_refresh, parse_symbols
from livews_gateway.rooms import Rooms
from livews_gateway.sessions import ExpiryWatch
from livews_gateway.settings import GatewaySettings
from livews_gateway.transport.wsprotocol import text_frame_header

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"


def decode_frame(frame: bytes) -> tuple[str, Any]:
    """A frame as a Socket.IO client decodes it: (event, payload)."""
    assert frame[:1] == b"4", "not an Engine.IO MESSAGE"
    pkt = sio_packet.Packet(encoded_packet=frame[1:].decode())
    assert pkt.packet_type == sio_packet.EVENT
    return pkt.data[0], pkt.data[1]


def tick(symbol: str, seq: int) -> bytes:
    return json.dumps({"v": 1, "symbol": symbol, "seq": seq, "ingest_ts": 1}).encode()


class Harness:
    """Rooms + fan-out on a memory bus, with clients on memory outlets and a fake clock."""

    def __init__(self, slow_seconds: float = 5.0) -> None:
        self.bus = MemoryBus(self.on_message)
        self.rooms = Rooms(self.bus)
        self.now = 1000.0
        self.slow: list[Client] = []
        self.fanout = Fanout(
            self.rooms, GatewayMetrics(CollectorRegistry()), flush_min=0, flush_max=0.05,
            slow_seconds=slow_seconds, on_slow=self.slow.append, clock=lambda: self.now,
        )  # fmt: skip

    def on_message(self, channel: str, data: bytes) -> None:
        self.fanout.on_message(channel, data)

    def client(self, sid: str) -> tuple[Client, MemoryOutlet]:
        outlet = MemoryOutlet()
        bucket = TokenBucket(5, 10)
        client = Client(sid, sid, outlet, user="u", session="s", exp=0, bucket=bucket)
        outlet.on_writable(lambda: self.fanout.resumed(client))
        return client, outlet

    def send(self, symbol: str, seq: int) -> None:
        self.fanout.on_message(f"md:tick:{symbol}", tick(symbol, seq))


async def test_one_subscription_per_channel_reference_counted() -> None:
    h = Harness()
    a, _ = h.client("a")
    b, _ = h.client("b")
    await h.rooms.join(a, "quote", [SBIN, INFY])
    await h.rooms.join(b, "quote", [SBIN])
    await h.rooms.join(b, "depth", [SBIN])
    await h.rooms.join(b, "bars", [SBIN])
    assert h.bus.held == {
        "md:tick:NSE:SBIN-EQ": 1,
        "md:tick:NSE:INFY-EQ": 1,
        "md:depth:NSE:SBIN-EQ": 1,
        "md:bar:1m:NSE:SBIN-EQ": 1,
    }
    assert h.bus.subscribe_calls == 4
    h.rooms.leave(a, "quote", [SBIN])
    assert "md:tick:NSE:SBIN-EQ" in h.bus.held  # b still there
    h.rooms.leave_all(b)
    assert h.bus.held == {"md:tick:NSE:INFY-EQ": 1}
    assert h.rooms.subscriptions == [1, 0, 0] and h.rooms.counts == [1, 0, 0]


async def test_flush_batches_across_symbols_and_shares_frames() -> None:
    h = Harness()
    (a, out_a), (b, out_b) = h.client("a"), h.client("b")
    for c in (a, b):
        await h.rooms.join(c, "quote", [SBIN, INFY])
    h.send(SBIN, 1)
    h.send(INFY, 1)
    h.send(SBIN, 2)
    h.fanout.flush()
    assert len(out_a.frames) == 1 and out_a.frames == out_b.frames
    assert out_a.frames[0] is out_b.frames[0]  # built once, written twice
    event, ticks = decode_frame(out_a.frames[0])
    assert event == "ticks" and [(t["symbol"], t["seq"]) for t in ticks] == [
        (SBIN, 1), (INFY, 1), (SBIN, 2),
    ]  # fmt: skip


async def test_stale_ticks_and_snapshot_floors_are_not_sent() -> None:
    h = Harness()
    a, out = h.client("a")
    rooms = await h.rooms.join(a, "quote", [SBIN])
    rooms[0].floors[a] = 5  # a's snapshot held seq 5
    for seq in (3, 5, 6, 6, 4, 7):
        h.send(SBIN, seq)
    h.fanout.flush()
    _, ticks = decode_frame(out.frames[0])
    assert [t["seq"] for t in ticks] == [6, 7]


async def test_a_blocked_client_is_conflated_then_handed_over_as_slow() -> None:
    h = Harness(slow_seconds=2.0)
    (fast, out_fast), (slow, out_slow) = h.client("fast"), h.client("slow")
    for c in (fast, slow):
        await h.rooms.join(c, "quote", [SBIN, INFY])
    out_slow.paused = True
    for seq in range(1, 6):
        h.send(SBIN, seq)
        h.send(INFY, seq)
    h.fanout.flush()
    assert len(out_fast.frames) == 1 and out_slow.frames == []
    assert [e.seq for e in slow.pending[0]] == [5, 5]  # latest per symbol only
    h.now += 1.0
    h.send(SBIN, 6)
    h.fanout.flush()
    assert h.slow == []
    # It drains: it gets the latest of each symbol, the seq jump says what it missed.
    out_slow.resume()
    h.fanout.flush()
    _, ticks = decode_frame(out_slow.frames[0])
    assert sorted((t["symbol"], t["seq"]) for t in ticks) == [(INFY, 5), (SBIN, 6)]
    # Blocked again, for longer than slow_seconds: cut off.
    out_slow.paused = True
    h.send(SBIN, 7)
    h.fanout.flush()
    h.now += 2.5
    h.send(SBIN, 8)
    h.fanout.flush()
    assert h.slow == [slow]
    assert [t["seq"] for t in decode_frame(out_fast.frames[-1])[1]] == [8]


async def test_control_frames_go_first_and_holds_are_respected() -> None:
    h = Harness()
    a, out = h.client("a")
    await h.rooms.join(a, "quote", [SBIN])
    a.hold = 1
    h.send(SBIN, 1)
    h.fanout.flush()
    assert out.frames == []
    a.hold = 0
    a.control.append(snapshot_frame("ticks", [tick(SBIN, 0)]))
    h.fanout.touch(a)
    h.fanout.flush()
    assert [decode_frame(f)[0] for f in out.frames] == ["snapshot", "ticks"]


async def test_undecodable_and_misrouted_messages_are_dropped() -> None:
    h = Harness()
    a, out = h.client("a")
    await h.rooms.join(a, "quote", [SBIN])
    for data in (b"not json", b'{"v": 2, "symbol": "NSE:SBIN-EQ", "seq": 1, "ingest_ts": 1}',
                 tick(INFY, 1), b"\xff\xfe"):  # fmt: skip
        h.fanout.on_message("md:tick:NSE:SBIN-EQ", data)
    h.fanout.flush()
    assert out.frames == []


async def test_flusher_runs_on_the_next_loop_turn() -> None:
    h = Harness()
    a, out = h.client("a")
    await h.rooms.join(a, "quote", [SBIN])
    task = asyncio.create_task(h.fanout.run())
    try:
        h.send(SBIN, 1)
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(out.frames) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_conflate_keeps_the_latest_per_symbol() -> None:
    entries = [Entry(s, q, 0, b"") for s, q in ((SBIN, 1), (INFY, 1), (SBIN, 2), (INFY, 3))]
    assert [(e.symbol, e.seq) for e in conflate(entries)] == [(SBIN, 2), (INFY, 3)]


def test_frames_decode_as_socketio_events() -> None:
    assert decode_frame(event_frame("status", {"upstream": "up", "ts": 1})) == (
        "status", {"upstream": "up", "ts": 1},
    )  # fmt: skip
    assert decode_frame(batch_frame("ticks", [b'{"a":1}', b'{"b":2}'])) == (
        "ticks", [{"a": 1}, {"b": 2}],
    )  # fmt: skip
    assert decode_frame(snapshot_frame("depth", [])) == ("snapshot", {"depth": []})


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() and not bucket.take()
    assert bucket.strikes == 2


def test_parse_symbols() -> None:
    req = parse_symbols({"symbols": [SBIN, SBIN, "nope", INFY], "mode": "depth"})
    assert req.mode == "depth" and req.symbols == [SBIN, INFY]
    assert [r["symbol"] for r in req.rejected] == ["nope"]
    assert parse_symbols({"symbols": []}).mode == "quote"
    for bad in (None, [], {"symbols": "x"}, {"symbols": [1]}, {"symbols": [], "mode": "x"}):
        with pytest.raises(BadRequest):
            parse_symbols(bad)
    assert parse_refresh({"token": "t"}) == "t"
    with pytest.raises(BadRequest):
        parse_refresh({"token": ""})


def test_expiry_notice_is_early_but_not_too_early() -> None:
    watch = ExpiryWatch(notice=60, on_notice=lambda c: None, on_expired=lambda c: None)
    assert watch.notice_at(exp=1900, iat=1000) == 1840  # 15-minute token: a minute ahead
    assert watch.notice_at(exp=1006, iat=1000) == 1004  # 6-second token: a third of it


def test_bucket_histogram() -> None:
    h = BucketHistogram((0.01, 0.1))
    h.observe(0.005, 3)
    h.observe(0.5)
    family = h.family("x", "doc")
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("x_bucket", "0.01")] == 3 and samples[("x_bucket", "+Inf")] == 4
    assert samples[("x_count", None)] == 4


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("GATEWAY_TRANSPORTS", "websocket,polling")
    settings = GatewaySettings()
    assert settings.cors_allowed == ["https://a.example", "https://b.example"]
    assert settings.transports == ["websocket", "polling"]
    assert settings.max_symbols == 200 and settings.compression is False
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "*")
    assert GatewaySettings().cors_allowed == "*"
    monkeypatch.setenv("GATEWAY_TRANSPORTS", "carrier-pigeon")
    with pytest.raises(ValueError):
        GatewaySettings()


def test_text_frame_header_matches_websockets_framing() -> None:
    for size in (0, 5, 125, 126, 1000, 65535, 65536, 200_000):
        conn = ServerProtocol()
        conn.state = State.OPEN
        payload = b"a" * size
        conn.send_text(payload)
        assert b"".join(conn.data_to_send()) == text_frame_header(size) + payload
