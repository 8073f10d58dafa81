"""Rooms: one per (mode, symbol), each holding its Redis channel for as long as it has members.

A room is created by its first member and removed with its last; creation acquires the
room's channel on the :class:`~livews_gateway.bus.Bus` and removal releases it, so this
process holds exactly one subscription per channel that some client here wants. The
python-socketio room machinery is not used for market data: its ``emit`` makes a task per
recipient per call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from livews_common import names
from livews_gateway.bus import Bus
from livews_gateway.clients import MODE_INDEX, MODES, Client, Mode


def channel_of(mode: Mode, symbol: str) -> str:
    if mode == "quote":
        return names.tick_channel(symbol)
    return names.depth_channel(symbol) if mode == "depth" else names.bar_channel(symbol)


class Room:
    """Members of one (mode, symbol) and what was last relayed to them.

    ``last_seq`` is the highest ``seq`` relayed to the room: a message at or below it is
    stale for every member. ``floors`` holds, for members that just got a snapshot, the
    ``seq`` of that snapshot: live messages at or below it are not theirs to receive.
    ``suspect`` counts consecutive messages with an absurd ``seq`` (see ``Fanout.relay``).
    """

    __slots__ = (
        "channel", "floors", "index", "last", "last_seq", "members", "mode", "ready", "suspect",
        "symbol",
    )  # fmt: skip

    def __init__(self, mode: Mode, symbol: str) -> None:
        self.mode = mode
        self.index = MODE_INDEX[mode]
        self.symbol = symbol
        self.channel = channel_of(mode, symbol)
        self.members: set[Client] = set()
        self.floors: dict[Client, int] = {}
        self.last_seq = -1
        #: The message last relayed (the ``prev`` of the next one, for compact deltas).
        self.last: bytes | None = None
        #: Messages in a row whose ``seq`` was absurd against ``last_seq`` (fanout.py).
        self.suspect = 0
        self.ready = asyncio.Event()


class Rooms:
    """Every room of this process, by channel name."""

    def __init__(
        self, bus: Bus, *, on_change: Callable[[], None] | None = None, confirm_timeout: float = 1.0
    ) -> None:
        self._bus = bus
        self._by_channel: dict[str, Room] = {}
        self._on_change = on_change
        self._confirm_timeout = confirm_timeout
        self.subscriptions = [0, 0, 0]
        self.counts = [0, 0, 0]

    def __iter__(self) -> Iterable[Room]:
        return iter(list(self._by_channel.values()))

    def room(self, channel: str) -> Room | None:
        return self._by_channel.get(channel)

    def symbols(self, mode: Mode) -> list[str]:
        """Symbols that have a room in ``mode`` (this process's demand)."""
        index = MODE_INDEX[mode]
        return sorted(r.symbol for r in self._by_channel.values() if r.index == index)

    async def join(self, client: Client, mode: Mode, symbols: Iterable[str]) -> list[Room]:
        """Add ``client`` to the rooms of ``symbols``; returns once their channels are live.

        "Live" means Redis confirmed the subscription (or the bus is down, in which case
        the channels are subscribed when it is back). Reading ``md:last`` after this
        returns cannot miss a message published in between.
        """
        index = MODE_INDEX[mode]
        subs = client.own_subs(index)
        created: list[Room] = []
        joined: list[Room] = []
        for symbol in symbols:
            channel = channel_of(mode, symbol)
            room = self._by_channel.get(channel)
            if room is None:
                room = self._by_channel[channel] = Room(mode, symbol)
                self.counts[index] += 1
                created.append(room)
            if client not in room.members:
                room.members.add(client)
                subs.add(symbol)
                self.subscriptions[index] += 1
            joined.append(room)
        if created:
            if self._on_change is not None:
                self._on_change()
            try:
                await self._bus.acquire([r.channel for r in created], wait=self._confirm_timeout)
            finally:
                for room in created:
                    room.ready.set()
        for room in joined:
            if not room.ready.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(room.ready.wait(), self._confirm_timeout)
        return joined

    def leave(self, client: Client, mode: Mode, symbols: Iterable[str]) -> list[str]:
        """Remove ``client`` from the rooms of ``symbols``; returns the symbols it left."""
        index = MODE_INDEX[mode]
        subs = client.subs[index]  # perhaps the shared NO_SUBS: only held symbols are removed
        left: list[str] = []
        released: list[str] = []
        for symbol in symbols:
            if symbol not in subs:
                continue
            subs.discard(symbol)
            left.append(symbol)
            self.subscriptions[index] -= 1
            channel = channel_of(mode, symbol)
            room = self._by_channel.get(channel)
            if room is None:
                continue
            room.members.discard(client)
            room.floors.pop(client, None)
            if not room.members:
                del self._by_channel[channel]
                self.counts[index] -= 1
                released.append(channel)
        if left:
            gone = set(left)
            client.pending[index] = [e for e in client.pending[index] if e.symbol not in gone]
            if client.held is not None and index == 0:
                for symbol in left:
                    client.held.pop(symbol, None)
            throttle = client.throttle
            if throttle is not None:
                for symbol in left:
                    throttle.interval[index].pop(symbol, None)
                    throttle.due[index].pop(symbol, None)
        if released:
            self._bus.release(released)
            if self._on_change is not None:
                self._on_change()
        return left

    def leave_all(self, client: Client) -> None:
        for mode in MODES:
            self.leave(client, mode, list(client.subs[MODE_INDEX[mode]]))
