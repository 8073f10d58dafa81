"""Outlets: where one client's Socket.IO frames are written.

Contract of an :class:`Outlet`:

* ``write_text`` takes one whole Engine.IO text packet (``b'42["ticks",[…]]'``). It is
  synchronous and never waits: the frame is handed to the connection
  (or dropped, returning False, when the connection is already closing). Frames written
  through one outlet reach the client in the order they were written.
* ``writable`` says whether the connection can take more bulk data now. The fan-out only
  writes ticks while it is True; otherwise it conflates them. Control frames (acks,
  snapshots, ``bye``) are small and written regardless.
* ``buffered`` is how many bytes wait in user space to go out on this connection.
* ``abort`` drops the connection at once, discarding whatever is buffered; used for a
  slow consumer that did not leave after its ``bye``.

:class:`WebSocketOutlet` writes straight into the websocket connection of the client's
uvicorn protocol — no task, no queue. :class:`QueueOutlet` is the fallback for Engine.IO's
long-polling transport: it goes through python-engineio's per-socket queue. Both touch
library internals and live in ``transport/outlets.py``. :class:`MemoryOutlet` records
frames for unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Outlet(Protocol):
    """One client connection's ordered, non-blocking frame sink (see the module doc)."""

    @property
    def open(self) -> bool: ...

    def writable(self) -> bool: ...

    def buffered(self) -> int: ...

    def write_text(self, data: bytes) -> bool: ...

    def abort(self) -> None: ...

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the connection becomes writable again."""


class MemoryOutlet:
    """Records frames; ``paused`` simulates a client that stopped reading (tests)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.paused = False
        self.aborted = False
        self.closed = False
        self._callback: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        return not (self.aborted or self.closed)

    def writable(self) -> bool:
        return not self.paused

    def buffered(self) -> int:
        return 1 << 30 if self.paused else 0

    def write_text(self, data: bytes) -> bool:
        if not self.open:
            return False
        self.frames.append(data)
        return True

    def abort(self) -> None:
        self.aborted = True

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def resume(self) -> None:
        self.paused = False
        if self._callback is not None:
            self._callback()
