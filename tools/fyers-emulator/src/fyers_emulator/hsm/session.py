"""One data-socket connection: what it subscribed to and its outgoing queue.

Ownership: the websocket endpoint creates the session, runs ``write_loop`` as a task it owns,
and unregisters it from the feed when the socket ends. Control replies are never dropped;
data frames beyond ``max_data_frames`` queued are (a slow reader loses updates, counted in
``fyers_emulator_frames_dropped_total``). Order on the wire is the order of the queue, so a
subscribe ack always precedes that topic's snapshot, which precedes its updates.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from starlette.websockets import WebSocket

from fyers_emulator.tokens import AccessGrant


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class Session:
    """State of one data socket; mutated only on the event loop."""

    def __init__(self, ws: WebSocket, max_data_frames: int) -> None:
        self.ws = ws
        self.grant: AccessGrant | None = None
        self.lite = False
        self.msg_no = 0
        self.closing = False
        self.quotes: dict[int, int] = {}  # instrument index → channel (quote and index topics)
        self.depths: dict[int, int] = {}  # instrument index → channel (depth topics)
        self.pending_quotes: set[int] = set()  # subscribed, snapshot not sent yet
        self.pending_depths: set[int] = set()
        self.paused: set[int] = set()  # paused channels
        self.live_quotes: frozenset[int] = frozenset()  # streaming now (snapshot sent, not paused)
        self.live_depths: frozenset[int] = frozenset()
        self._max_data = max_data_frames
        self._queue: deque[tuple[bool, bytes | str | _Close]] = deque()
        self._queued_data = 0
        self._wake = asyncio.Event()

    @property
    def authenticated(self) -> bool:
        return self.grant is not None

    @property
    def topic_count(self) -> int:
        return len(self.quotes) + len(self.depths)

    def refresh_live(self) -> None:
        """Recompute the streaming sets after a (un)subscribe, snapshot, pause or resume."""
        self.live_quotes = (
            frozenset(i for i, ch in self.quotes.items() if ch not in self.paused)
            - self.pending_quotes
        )
        self.live_depths = (
            frozenset(i for i, ch in self.depths.items() if ch not in self.paused)
            - self.pending_depths
        )

    def send_control(self, frame: bytes | str) -> None:
        if self.closing:
            return
        self._queue.append((False, frame))
        self._wake.set()

    def send_data(self, frames: list[bytes]) -> int:
        """Queue data frames; return how many were dropped because the queue is full."""
        if self.closing:
            return len(frames)
        room = max(0, self._max_data - self._queued_data)
        for frame in frames[:room]:
            self._queue.append((True, frame))
        self._queued_data += min(room, len(frames))
        self._wake.set()
        return max(0, len(frames) - room)

    def close(self, code: int, reason: str, *, flush: bool) -> None:
        """Close after what is queued (``flush``) or at once, dropping the queue."""
        if self.closing:
            return
        if not flush:
            self._queue.clear()
            self._queued_data = 0
        self._queue.append((False, _Close(code, reason)))
        self.closing = True
        self._wake.set()

    async def write_loop(self) -> None:
        """Send the queue in order until a close is sent or the socket fails."""
        queue = self._queue
        while True:
            while not queue:
                self._wake.clear()
                await self._wake.wait()
            is_data, item = queue.popleft()
            if is_data:
                self._queued_data -= 1
            if isinstance(item, _Close):
                await self.ws.close(item.code, item.reason)
                return
            if isinstance(item, str):
                await self.ws.send_text(item)
            else:
                await self.ws.send_bytes(item)
