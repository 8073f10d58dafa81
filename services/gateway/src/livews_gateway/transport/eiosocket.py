"""python-engineio's socket, lighter on a direct websocket: no writer task, no ping task.

For every websocket session python-engineio keeps, while the client is idle, a writer task
waiting on the socket's queue, a task per pending receive (``ensure_future`` under
``wait_for``) and a task sleeping until the next ping — about 5 KiB per connection, for
work that needs none of it once the connection has an outlet (``wsprotocol.py``): every
write into it is synchronous.

:class:`DirectSocket` replaces ``AsyncSocket`` (its class is swapped in by
``engine.py`` when a session is created on a websocket that carries an outlet):

* ``send`` checks the ping timeout as python-engineio does, then writes the packet
  through the outlet (never blocks, never queues); packets sent before the websocket was
  accepted (the OPEN packet) wait in the queue and are written first, in order;
* the next ping is a loop timer (``call_later``), not a task sleeping;
* the socket's queue is dropped once what it held was written;
* the receive loop awaits the next message in the connection's own ASGI task, under an
  ``asyncio.timeout`` of ping interval + ping timeout (a dead client is still dropped, as
  python-engineio's ``wait_for`` did; its service task still checks the ping timeout too).

Sessions upgraded from long-polling, and websockets without an outlet, keep
python-engineio's own code. Internals used: ``AsyncSocket._websocket_handler``,
``schedule_ping``, ``check_ping_timeout``, ``receive``, ``close``, the ``queue``,
``last_ping``, ``connected``/``upgraded``/``closing``/``closed`` attributes, and the ASGI
driver's ``WebSocket.wait``/``close`` (tests/test_transport_internals.py names them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engineio import async_socket, exceptions
from engineio import packet as eio_packet

from livews_gateway.outlet import Outlet

__all__ = ["DirectSocket", "make_direct"]


class _Drained:
    """Stands in for a direct socket's ``asyncio.Queue`` once it was drained (~2 KiB less).

    Nothing puts into it any more (``send`` writes through the outlet); python-engineio's
    ``close(wait=True)`` joins it, which returns at once, as joining an empty queue does.
    """

    __slots__ = ()

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def put_nowait(self, item: Any) -> None:
        return None

    async def put(self, item: Any) -> None:
        return None

    async def join(self) -> None:
        return None


_DRAINED = _Drained()


class DirectSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """An Engine.IO websocket session written through an outlet (see the module doc)."""

    #: Set by :func:`make_direct`; becomes ``_outlet`` once the websocket is accepted.
    _pending_outlet: Outlet | None = None
    _outlet: Outlet | None = None
    _ping_timer: asyncio.TimerHandle | None = None
    # python-engineio's own attributes (set by its __init__), typed for the checker.
    last_ping: float | None
    connected: bool
    upgraded: bool
    queue: Any

    async def send(self, pkt: Any) -> None:
        if self._outlet is None:  # not accepted yet: python-engineio's queue
            await super().send(pkt)
            return
        if not await self.check_ping_timeout():
            return
        self._write(pkt)

    def _write(self, pkt: Any) -> None:
        outlet = self._outlet
        data = pkt.encode()
        if outlet is not None and isinstance(data, str):  # the protocol is text only
            outlet.write_text(data.encode())

    def schedule_ping(self) -> None:
        # Same rule as python-engineio: only after the previous ping was answered.
        if self.last_ping:
            self.last_ping = None
            loop = asyncio.get_running_loop()
            self._ping_timer = loop.call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_timer = None
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        if self._outlet is not None:
            self._write(eio_packet.Packet(eio_packet.PING))
        else:
            self.server.start_background_task(self.send, eio_packet.Packet(eio_packet.PING))

    async def _websocket_handler(self, ws: Any) -> None:
        outlet = self._pending_outlet
        if self.connected or outlet is None:  # an upgrade from polling: python-engineio's way
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        self._outlet = outlet
        self._pending_outlet = None
        while not self.queue.empty():  # what was sent before the accept (the OPEN packet)
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is not None:
                self._write(pkt)
        self.queue = _DRAINED  # nothing is queued from now on: drop the asyncio.Queue
        server = self.server
        deadline = server.ping_interval + server.ping_timeout
        try:
            while True:
                try:
                    async with asyncio.timeout(deadline):
                        data = await ws.wait()
                except (Exception, asyncio.CancelledError):
                    break  # gone, closed, or silent for longer than a ping cycle
                if data is None or len(data) > server.max_http_buffer_size:
                    break
                try:
                    await self.receive(eio_packet.Packet(encoded_packet=data))
                except exceptions.UnknownPacketError:
                    pass
                except exceptions.SocketIsClosedError:
                    break
                except Exception:
                    server.logger.exception("Unknown receive error")
        finally:
            timer, self._ping_timer = self._ping_timer, None
            if timer is not None:
                timer.cancel()
        await ws.close()
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


def make_direct(socket: Any, outlet: Outlet) -> None:
    """Turn python-engineio's new websocket ``socket`` into a :class:`DirectSocket`."""
    if type(socket) is async_socket.AsyncSocket:
        socket.__class__ = DirectSocket
        socket._pending_outlet = outlet
