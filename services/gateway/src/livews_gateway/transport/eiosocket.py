"""python-engineio's socket, lighter on a direct websocket: no writer, ping or timeout per session.

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
* the socket's queue is dropped once what it held was written;
* the receive loop awaits the next message in the connection's own ASGI task, with no
  deadline of its own and no reference kept to the last message;
* pings and the ping timeout are one :class:`PingSweeper` task for all direct sessions
  (issue #17: a loop timer and an ``asyncio.timeout`` per session cost ~1.3 KiB): it
  writes each session's PING once its ping interval has passed since the last PONG, and
  closes a session whose PING went unanswered for the ping timeout (reason ``ping
  timeout``) — which also ends its websocket, as a closed Engine.IO session needs no
  connection (a session closed for another reason ends it after ``CLOSE_GRACE``). A silent
  client is therefore still dropped after about ping interval + ping timeout, as
  python-engineio's own ``wait_for`` did; its service task still checks the ping timeout.

Sessions upgraded from long-polling, and websockets without an outlet, keep
python-engineio's own code. Internals used: ``AsyncSocket._websocket_handler``,
``schedule_ping``, ``check_ping_timeout``, ``receive``, ``close``, the ``queue``,
``last_ping``, ``connected``/``upgraded``/``closing``/``closed`` attributes, the server's
``sockets``, ``ping_interval``/``ping_timeout`` and ``reason``, and the ASGI driver's
``WebSocket.wait``/``close`` (tests/test_transport_internals.py names them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from engineio import async_socket, exceptions
from engineio import packet as eio_packet

from livews_gateway.transport.outlets import WebSocketOutlet

__all__ = ["DirectSocket", "PingSweeper", "make_direct"]

#: Longest pause between two sweeps (s): the error, beyond the interval, of a ping's timing.
SWEEP_SECONDS = 1.0
#: Seconds a client has to close the websocket of a session the server closed.
CLOSE_GRACE = 2.0


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
    _pending_outlet: WebSocketOutlet | None = None
    _outlet: WebSocketOutlet | None = None
    #: Monotonic time the next PING is due (0.0 while one waits for its PONG).
    _ping_at: float = 0.0
    # python-engineio's own attributes (set by its __init__), typed for the checker.
    last_ping: float | None
    connected: bool
    upgraded: bool
    closing: bool
    closed: bool
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
        # Same rule as python-engineio: only after the previous ping was answered. The
        # sweeper sends it.
        if self.last_ping:
            self.last_ping = None
            self._ping_at = time.monotonic() + self.server.ping_interval

    def ping_if_due(self, now: float) -> None:
        """Write the PING if its time (monotonic ``now``) has come; called by the sweeper."""
        if not self._ping_at or now < self._ping_at or self.closing or self.closed:
            return
        self._ping_at = 0.0
        self.last_ping = time.time()
        if self._outlet is not None:
            self._write(eio_packet.Packet(eio_packet.PING))
        else:  # not accepted yet (a slow handshake): through python-engineio's queue
            self.server.start_background_task(self.send, eio_packet.Packet(eio_packet.PING))

    def ping_unanswered(self, wall: float) -> bool:
        """Whether the last PING has waited longer than the ping timeout (``wall``: time())."""
        last = self.last_ping
        if not last or self.closing or self.closed:
            return False
        return bool(wall - last > self.server.ping_timeout)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        first = not (self.closing or self.closed)
        await super().close(wait=wait, abort=abort, reason=reason)
        outlet = self._outlet
        if not first or outlet is None:
            return
        # A closed session needs no websocket: end the receive loop below, which closes it.
        # At once after a ping timeout; otherwise the client, told by a CLOSE packet, gets
        # CLOSE_GRACE to close it first (a client that never does is still let go of).
        if reason == self.server.reason.PING_TIMEOUT:
            outlet.end_receive()
        else:
            asyncio.get_running_loop().call_later(CLOSE_GRACE, outlet.end_receive)

    async def _websocket_handler(self, ws: Any) -> None:
        outlet = self._pending_outlet
        if self.connected or outlet is None:  # an upgrade from polling: python-engineio's way
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        self._outlet = outlet
        self._pending_outlet = None
        self._write_queued()
        try:
            while await self._take(ws):
                pass
        finally:
            self._ping_at = 0.0
        await ws.close()
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    def _write_queued(self) -> None:
        """Write what was sent before the accept (the OPEN packet); drop the queue."""
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is not None:
                self._write(pkt)
        self.queue = _DRAINED  # nothing is queued from now on: drop the asyncio.Queue

    async def _take(self, ws: Any) -> bool:
        """Receive and handle one message; False once the session is over.

        A method of its own so that nothing of the message outlives its handling: a
        local of the receive loop would hold it until the next one, for as long as the
        client stays idle.
        """
        try:
            data = await ws.wait()
        except (Exception, asyncio.CancelledError):
            return False  # gone or closed
        if data is None or len(data) > self.server.max_http_buffer_size:
            return False
        try:
            await self.receive(eio_packet.Packet(encoded_packet=data))
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            return False
        except Exception:
            self.server.logger.exception("Unknown receive error")
        return True


class PingSweeper:
    """Pings and ping timeouts of every :class:`DirectSocket` of a server, on one task.

    Every ``tick`` seconds (at most :data:`SWEEP_SECONDS`, at most a fifth of the ping
    interval or timeout) it walks the server's sessions once: a PING for each that is due,
    and python-engineio's ``check_ping_timeout`` (which closes the session, and so its
    websocket) for each whose PING went unanswered for longer than the ping timeout.
    Owned by the server: :meth:`start` on the first direct session, :meth:`stop` at shutdown.
    """

    def __init__(self, server: Any) -> None:
        self._server = server
        self._task: asyncio.Task[None] | None = None
        self.tick = max(0.05, min(SWEEP_SECONDS, server.ping_interval / 5, server.ping_timeout / 5))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="gateway:ping-sweeper"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.sweep()
            except Exception:  # one bad session must not stop every heartbeat
                self._server.logger.exception("ping sweep failed")

    async def sweep(self) -> None:
        """One pass over the sessions (see the class doc)."""
        now, wall = time.monotonic(), time.time()
        unanswered = []
        for socket in self._server.sockets.values():
            if type(socket) is DirectSocket:
                socket.ping_if_due(now)
                if socket.ping_unanswered(wall):
                    unanswered.append(socket)
        for socket in unanswered:  # closing runs disconnect handlers: not while iterating
            await socket.check_ping_timeout()


def make_direct(socket: Any, outlet: WebSocketOutlet) -> None:
    """Turn python-engineio's new websocket ``socket`` into a :class:`DirectSocket`."""
    if type(socket) is async_socket.AsyncSocket:
        socket.__class__ = DirectSocket
        socket._pending_outlet = outlet
