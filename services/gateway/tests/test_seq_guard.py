"""Redis content is checked, not trusted: the seq-jump guard and the message check (fanout.py)."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from livews_common.models import MAX_SEQ
from livews_gateway.bus import MemoryBus
from livews_gateway.clients import Client
from livews_gateway.fanout import SEQ_CONFIRM, Fanout
from livews_gateway.limits import TokenBucket
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.outlet import MemoryOutlet
from livews_gateway.rooms import Rooms

SBIN = "NSE:SBIN-EQ"
POISON = 2**53 - 1
JUMP = 1000


def tick(seq: int, symbol: str = SBIN) -> bytes:
    return json.dumps({"v": 1, "symbol": symbol, "seq": seq, "ingest_ts": 1}).encode()


class Harness:
    def __init__(self) -> None:
        self.bus = MemoryBus(lambda channel, data: None)
        self.rooms = Rooms(self.bus)
        self.metrics = GatewayMetrics(CollectorRegistry())
        self.fanout = Fanout(
            self.rooms, self.metrics, flush_min=0, flush_max=0.05, slow_seconds=5,
            on_slow=lambda client: None, max_seq_jump=JUMP,
        )  # fmt: skip
        self.outlet = MemoryOutlet()
        self.client = Client(
            "a", "a", self.outlet, user="u", session="s", exp=0, bucket=TokenBucket(5, 10)
        )

    def send(self, *seqs: int) -> list[int]:
        """Send ticks of these seqs; the seqs the client got."""
        for seq in seqs:
            self.fanout.on_message(f"md:tick:{SBIN}", tick(seq))
        self.fanout.flush()
        got = [t["seq"] for frame in self.outlet.frames for t in _ticks(frame)]
        self.outlet.frames.clear()
        return got

    @property
    def jumps(self) -> float:
        return self.metrics.seq_jumps._value.get()


def _ticks(frame: bytes) -> list[dict[str, object]]:
    body = json.loads(frame[1:].decode().lstrip("0123456789"))
    ticks: list[dict[str, object]] = body[1]
    return ticks


async def test_one_poisoned_tick_neither_reaches_clients_nor_silences_the_room() -> None:
    h = Harness()
    await h.rooms.join(h.client, "quote", [SBIN])
    assert h.send(10, 11) == [10, 11]
    assert h.send(POISON, 12, 13) == [12, 13]
    assert h.send(11 + JUMP + 5, 14) == [14], "a jump past GATEWAY_MAX_SEQ_JUMP is ignored too"
    assert h.jumps == 2


async def test_a_room_that_followed_a_poisoned_seq_recovers() -> None:
    h = Harness()
    await h.rooms.join(h.client, "quote", [SBIN])
    # First message of a fresh room: below MAX_SEQ, so nothing to compare it with yet.
    assert h.send(MAX_SEQ - 1) == [MAX_SEQ - 1]
    genuine = list(range(100, 100 + SEQ_CONFIRM + 3))
    got = h.send(*genuine)
    assert got == genuine[SEQ_CONFIRM:], "after SEQ_CONFIRM ignored ones, the room follows"


async def test_a_genuine_large_jump_is_followed_after_confirmation() -> None:
    h = Harness()
    await h.rooms.join(h.client, "quote", [SBIN])
    h.send(5)
    restarted = list(range(10**12, 10**12 + SEQ_CONFIRM + 2))
    assert h.send(*restarted) == restarted[SEQ_CONFIRM:]
    assert h.send(MAX_SEQ + 1) == [], "never above MAX_SEQ, however often"


async def test_a_stored_value_with_an_absurd_seq_is_left_out_of_a_snapshot() -> None:
    h = Harness()
    (room,) = await h.rooms.join(h.client, "quote", [SBIN])
    assert h.fanout.check(room, tick(POISON)) is None
    h.send(50)
    assert h.fanout.check(room, tick(50 + JUMP + 1)) is None
    head = h.fanout.check(room, tick(60))
    assert head is not None and head.seq == 60
    assert h.jumps == 2


async def test_bad_bytes_and_other_symbols_are_dropped_and_counted() -> None:
    h = Harness()
    (room,) = await h.rooms.join(h.client, "quote", [SBIN])
    not_utf8 = tick(1).replace(b'"symbol"', b'"\xff":1,"symbol"')
    assert h.send() == []
    h.fanout.on_message(f"md:tick:{SBIN}", not_utf8)
    h.fanout.on_message(f"md:tick:{SBIN}", tick(2, symbol="NSE:INFY-EQ"))
    assert h.fanout.check(room, not_utf8) is None
    assert h.fanout.check(room, b"\x00garbage") is None
    assert h.send(3) == [3]
    assert h.metrics.bad_messages._value.get() == 4


async def test_a_fresh_room_checks_its_first_message_against_the_snapshots() -> None:
    h = Harness()
    (room,) = await h.rooms.join(h.client, "quote", [SBIN])
    room.floors[h.client] = 40  # what the snapshot after the subscribe carried
    clock_seq = 1_796_000_000_000  # a new leader continuing from the clock
    seqs = [clock_seq + i for i in range(SEQ_CONFIRM + 2)]
    assert h.send(*seqs) == seqs[SEQ_CONFIRM:]
    assert h.jumps == SEQ_CONFIRM + 1
