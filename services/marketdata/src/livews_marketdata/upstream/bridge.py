"""The hop from the SDK's threads onto the asyncio loop.

SDK callbacks run on its websocket thread (and, for subscribe errors, on our SDK-call
thread). They must return at once and must never touch the loop's objects directly, so
:class:`Bridge` gives them two thread-safe entry points:

- ``push_data`` appends ``(received_ms, update)`` to a buffer under a lock and wakes the loop
  only when the buffer goes from empty to non-empty (one ``call_soon_threadsafe`` per burst,
  not per update). ``take()`` hands the loop everything buffered since the last take — the
  "batch of ticks that arrived together". The buffer is bounded: past ``capacity`` it is
  compacted to the newest update per (kind, symbol) — the SDK's updates carry the full state,
  so only history is lost — and the superseded ones are counted as ``overflow``.
- ``push_control`` queues a control event (auth result, error, close) for the supervisor;
  at most ``control_capacity`` wait, the rest are counted and dropped.

Events from an older connection are ignored: each carries the connection's generation.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from livews_common.models import Tick


@dataclass(frozen=True)
class ControlEvent:
    """Something the SDK said that is not data: ``kind`` is message, error or close."""

    generation: int
    kind: str
    payload: Any


class Bridge:
    """Thread-safe buffer of raw updates plus a queue of control events."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        capacity: int = 200_000,
        control_capacity: int = 1000,
    ) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._buffer: list[tuple[int, object]] = []
        self._signalled = False
        self._ready = asyncio.Event()
        self._capacity = capacity
        self.control: asyncio.Queue[ControlEvent] = asyncio.Queue(control_capacity)
        self.generation = 0
        self.overflow = 0  # updates superseded because the buffer was full
        self.control_dropped = 0
        self.last_data = time.monotonic()  # when the newest update arrived

    # -- SDK threads ----------------------------------------------------------------------

    def push_data(self, generation: int, update: object) -> None:
        if generation != self.generation:
            return
        now = time.time()
        self.last_data = time.monotonic()
        with self._lock:
            buffer = self._buffer
            buffer.append((int(now * 1000), update))
            if len(buffer) >= self._capacity:
                self._compact()
            if self._signalled:
                return
            self._signalled = True
        self._call(self._ready.set)

    def push_batch(self, generation: int, updates: list[object]) -> None:
        """``push_data`` for updates that arrived together (one frame): one stamp, one lock.

        Our HSM client calls this on the loop's own thread: then the loop is woken directly,
        not through its self-pipe (a write, a poll and a read per frame).
        """
        if generation != self.generation or not updates:
            return
        stamp = int(time.time() * 1000)
        self.last_data = time.monotonic()
        with self._lock:
            buffer = self._buffer
            buffer.extend([(stamp, update) for update in updates])
            if len(buffer) >= self._capacity:
                self._compact()
            if self._signalled:
                return
            self._signalled = True
        if asyncio.events._get_running_loop() is self._loop:
            self._ready.set()
        else:
            self._call(self._ready.set)

    def push_control(self, generation: int, kind: str, payload: Any) -> None:
        if generation != self.generation:
            return
        self._call(self._put_control, ControlEvent(generation, kind, payload))

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: the process is stopping

    def _put_control(self, event: ControlEvent) -> None:
        if event.generation != self.generation:
            return
        try:
            self.control.put_nowait(event)
        except asyncio.QueueFull:
            self.control_dropped += 1

    def _compact(self) -> None:
        newest: dict[tuple[object, object], tuple[int, object]] = {}
        for item in self._buffer:
            raw = item[1]
            if isinstance(raw, dict):
                key = (raw.get("type"), raw.get("symbol"))
            elif isinstance(raw, Tick):  # a quote or index already made (the HSM client)
                key = ("sf" if raw.kind == "quote" else "if", raw.symbol)
            else:
                key = (id(raw), 0)
            newest.pop(key, None)  # re-insert so the order is that of the newest update
            newest[key] = item
        self.overflow += len(self._buffer) - len(newest)
        self._buffer = list(newest.values())

    # -- the event loop -------------------------------------------------------------------

    async def take(self) -> list[tuple[int, object]]:
        """Everything buffered since the last call; waits while there is nothing."""
        await self._ready.wait()
        with self._lock:
            items, self._buffer = self._buffer, []
            self._signalled = False
            self._ready.clear()
        return items

    def new_generation(self) -> int:
        """Start ignoring events of the previous connection; returns the new generation."""
        with self._lock:
            self.generation += 1
            self._buffer = []
            self._signalled = False
            self._ready.clear()
        while not self.control.empty():
            self.control.get_nowait()
        return self.generation

    def mark_data(self) -> None:
        """Restart the stall clock (a new connection has not had time to send yet)."""
        self.last_data = time.monotonic()
