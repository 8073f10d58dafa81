"""The outlets that write into python-engineio and uvicorn connections (see ``outlet.py``).

:class:`WebSocketOutlet` writes straight into the websocket connection of the client's
uvicorn protocol (``wsprotocol.py``) — no task, no queue. :class:`QueueOutlet` is the
fallback for Engine.IO's long-polling transport: it puts packets on python-engineio's
per-socket queue (its ``queue``, ``closed`` and ``closing`` attributes are internals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet

if TYPE_CHECKING:
    from livews_gateway.transport.wsprotocol import GatewayWebSocketProtocol


class WebSocketOutlet:
    """Writes Socket.IO frames directly into a websocket connection (uvicorn, sans-I/O)."""

    __slots__ = ("_callback", "_proto")

    def __init__(self, proto: GatewayWebSocketProtocol) -> None:
        self._proto = proto
        self._callback: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        return self._proto.is_open()

    def writable(self) -> bool:
        return not self._proto.write_paused

    def buffered(self) -> int:
        return self._proto.buffered()

    def write_text(self, data: bytes) -> bool:
        return self._proto.write_text(data)

    def abort(self) -> None:
        self._proto.abort()

    def end_receive(self) -> None:
        """End the application's wait for the client's next message (the session is over)."""
        self._proto.end_receive()

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def resumed(self) -> None:
        """Called by the protocol when its transport drained below the low-water mark."""
        if self._callback is not None:
            self._callback()


class QueueOutlet:
    """Long-polling fallback: frames go through python-engineio's socket queue.

    Polling needs affinity (every request of a session on the same replica); it is not the
    transport this gateway is tuned for, so it only gets correctness, not the fast path.
    """

    __slots__ = ("_socket",)

    #: Frames waiting in the queue beyond which the client counts as behind.
    BACKLOG = 4

    def __init__(self, eio_socket: Any) -> None:
        self._socket = eio_socket

    @property
    def open(self) -> bool:
        return not (self._socket.closed or self._socket.closing)

    def writable(self) -> bool:
        return bool(self._socket.queue.qsize() < self.BACKLOG)

    def buffered(self) -> int:
        return int(self._socket.queue.qsize()) * 1024

    def write_text(self, data: bytes) -> bool:
        if not self.open:
            return False
        # ``data`` is a whole Engine.IO packet ("4" + Socket.IO text); the queue wants a Packet.
        self._socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data[1:].decode()))
        return True

    def abort(self) -> None:
        # A poll request cannot be torn down from here; ending the queue makes the next
        # poll return and Engine.IO's own timeout finish the session.
        self._socket.queue.put_nowait(None)

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        return None
