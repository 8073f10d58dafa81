"""python-socketio's server, with Socket.IO packets written straight into each websocket.

python-engineio sends every packet through a per-socket ``asyncio.Queue`` drained by a
writer task, one ``await send`` per packet (measured at ~35 µs of CPU per frame, against
~12 µs for a direct write). Once a client's websocket outlet is attached (after its
connect was authorised), this server writes that client's Socket.IO packets — connect
and ack packets from python-socketio as well as the gateway's own frames — synchronously
through the outlet, in call order, so they can never overtake one another. Engine.IO's
own packets (ping, close, noop) still take the queue; they carry no ordering with data.
Clients on the long-polling transport have no outlet and keep python-engineio's path.

On the way in (python-socketio's Engine.IO event handlers, overridden here):

* a new session is bound to its admission :class:`~livews_gateway.admission.Ticket` (put in
  the ASGI scope by the app), with a way to close it; an authorized Socket.IO connect
  takes it out of *pending*; a refused one closes the session at once (after the
  CONNECT_ERROR packet went out); so does a Socket.IO DISCONNECT from the client;
* a binary message (or BINARY_EVENT / BINARY_ACK) closes the session — on websockets the
  protocol (``wsprotocol.py``) already did, this covers long-polling; polling sessions
  get their inbound budget here too (websocket ones have it in the protocol).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from socketio import ASGIApp

from livews_gateway.admission import Admission, Ticket
from livews_gateway.limits import InboundBudget
from livews_gateway.outlet import Outlet
from livews_gateway.transport.eiosocket import PingSweeper, make_direct
from livews_gateway.transport.outlets import QueueOutlet
from livews_gateway.transport.wsprotocol import (
    CLOSE_POLICY,
    OUTLET_EXTENSION,
    GatewayWebSocketProtocol,
)

__all__ = ["TICKET_SCOPE_KEY", "ASGIApp", "GatewayEngineIO", "GatewaySocketIO"]

#: ASGI scope key under which the app hands a new session's admission ticket over.
TICKET_SCOPE_KEY = "livews.ticket"
#: Seconds between a refused connect and the close of its connection (CONNECT_ERROR first).
REFUSED_CLOSE_DELAY = 0.5
#: What an authorized websocket session's environ keeps (see ``_forget_headers``).
KEPT_ENVIRON = ("asgi.scope", "asgi.receive", "asgi.send", "REQUEST_METHOD", "PATH_INFO")


class GatewayEngineIO(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO server whose MESSAGE packets go through attached outlets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outlets: dict[str, Outlet] = {}
        #: Pings and ping timeouts of the direct websocket sessions (eiosocket.py).
        self.pings = PingSweeper(self)

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.pings.stop()

    async def send_packet(self, sid: str, pkt: Any) -> None:
        outlet = self.outlets.get(sid)
        if outlet is not None and pkt.packet_type == eio_packet.MESSAGE and not pkt.binary:
            outlet.write_text(pkt.encode().encode())
            return
        await super().send_packet(sid, pkt)


class GatewaySocketIO(socketio.AsyncServer):  # type: ignore[misc]
    """Socket.IO server on :class:`GatewayEngineIO` (see the module doc)."""

    eio: GatewayEngineIO

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.admission: Admission | None = None
        #: Builds a polling session's inbound budget (websockets have theirs in the protocol).
        self.budget_factory: Callable[[], InboundBudget] | None = None
        #: Told why a session was closed or a message dropped here ("binary", "rate", …).
        self.on_refused: Callable[[str], None] = lambda _why: None
        self._polling_budgets: dict[str, InboundBudget] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # --- python-engineio's events, as python-socketio handles them ---------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        scope = environ.get("asgi.scope") or {}
        extension = (scope.get("extensions") or {}).get(OUTLET_EXTENSION)
        if extension is not None:
            # No writer, receive or ping task for this session (eiosocket.py); and the
            # request body reader python-engineio's ASGI driver built (a class object per
            # request, ~2 KiB) is of no use on a websocket.
            socket = self.eio.sockets.get(eio_sid)
            if socket is not None:
                make_direct(socket, extension["outlet"])
                self.eio.pings.start()
            environ["wsgi.input"] = None
        result = await super()._handle_eio_connect(eio_sid, environ)
        ticket: Ticket | None = scope.get(TICKET_SCOPE_KEY)
        if ticket is not None and self.admission is not None:
            self.admission.bind(ticket, eio_sid, lambda why: self.close_session(eio_sid, why))
        if scope.get("type") == "http" and self.budget_factory is not None:
            self._polling_budgets[eio_sid] = self.budget_factory()
        return result

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if isinstance(data, bytes) or data[:1] in ("5", "6"):  # binary, BINARY_EVENT/ACK
            self.on_refused("binary")
            self.close_session(eio_sid, "binary")
            return
        budget = self._polling_budgets.get(eio_sid)
        if budget is not None and not budget.charge(len(data)):
            self.on_refused("rate")
            if budget.exhausted:
                self.close_session(eio_sid, "rate_close")
            return
        await super()._handle_eio_message(eio_sid, data)
        if data[:1] == "1":  # the client left the namespace: nothing is left on the session
            self.close_session(eio_sid, "left")

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        if self.manager.sid_from_eio_sid(eio_sid, namespace or "/") is None:
            self.close_session(eio_sid, "refused", delay=REFUSED_CLOSE_DELAY)
            return
        if self.admission is not None:
            self.admission.authorize(eio_sid)
        self._forget_headers(eio_sid)

    def _forget_headers(self, eio_sid: str) -> None:
        """Let an authorized websocket session's handshake headers go (~1.5 KiB, issue #17).

        They were read for the origin check, admission and the connect handler, and are
        kept twice for the connection's life: as bytes in the ASGI scope and as
        ``HTTP_*`` strings in python-engineio's environ. Nothing reads them after the
        Socket.IO connect: python-engineio is past its handshake checks (it and
        python-socketio only keep the environ for ``get_environ``). The environ dict is
        emptied and refilled (``clear`` frees its table; deleting keys would not).
        """
        environ = self.environ.get(eio_sid)
        if environ is None:
            return
        scope = environ.get("asgi.scope") or {}
        if OUTLET_EXTENSION not in (scope.get("extensions") or {}):
            return  # long-polling: each request brings its own environ anyway
        kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
        environ.clear()
        environ.update(kept)
        scope["headers"] = []

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        environ = self.environ.get(eio_sid) or {}
        await super()._handle_eio_disconnect(eio_sid, reason)
        self._polling_budgets.pop(eio_sid, None)
        # A websocket session's ticket is released when its connection ends (the app);
        # a long-polling session has no connection of its own: its ticket ends here.
        if self.admission is not None and (environ.get("asgi.scope") or {}).get("type") == "http":
            ticket = self.admission.ticket(eio_sid)
            if ticket is not None:
                self.admission.release(ticket)

    # --- closing a session ----------------------------------------------------------------------

    def connection(self, eio_sid: str) -> GatewayWebSocketProtocol | None:
        """The websocket protocol of ``eio_sid`` (None for long-polling or when gone)."""
        scope = (self.environ.get(eio_sid) or {}).get("asgi.scope") or {}
        extension = (scope.get("extensions") or {}).get(OUTLET_EXTENSION)
        return None if extension is None else extension.get("connection")

    def close_session(self, eio_sid: str, why: str, *, delay: float = 0.0) -> None:
        """Close ``eio_sid``'s connection (websocket: at the protocol; polling: Engine.IO)."""
        conn = self.connection(eio_sid)
        if conn is not None:
            reason = f"closed: {why}"
            if delay:
                conn.loop.call_later(delay, conn.refuse, CLOSE_POLICY, reason, why)
            else:
                conn.refuse(CLOSE_POLICY, reason, why)
            return
        task = asyncio.get_running_loop().create_task(self._disconnect_later(eio_sid, delay))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def hang_up(self, eio_sid: str, code: int, reason: str) -> None:
        """End ``eio_sid``'s connection with no Engine.IO/Socket.IO close packet.

        Clients (socket.io-client, python-socketio) reconnect by themselves after a
        connection that ended like this; after a Socket.IO DISCONNECT or an Engine.IO CLOSE
        they do not. Websocket: a close frame at the protocol, after which nothing more is
        written to it — a ``disconnect(sid)`` that follows only does the server-side
        bookkeeping, its DISCONNECT packet is dropped. Otherwise (long-polling, or a
        websocket upgraded from polling): python-engineio's socket is closed without its
        CLOSE packet (python-socketio's disconnect handlers run now) and its queue ended
        after what it holds (an upgraded websocket is then closed by python-engineio's
        writer; a poller's next request finds no session).
        """
        conn = self.connection(eio_sid)
        if conn is not None:
            conn.hang_up(code, reason)
            return
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return
        await socket.close(wait=False, abort=True, reason=self.eio.reason.SERVER_DISCONNECT)
        socket.queue.put_nowait(None)
        self.eio.sockets.pop(eio_sid, None)

    async def _disconnect_later(self, eio_sid: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self.eio.disconnect(eio_sid)

    def _engineio_server_class(self) -> type[GatewayEngineIO]:
        return GatewayEngineIO

    def attach_outlet(self, eio_sid: str, outlet: Outlet) -> None:
        self.eio.outlets[eio_sid] = outlet

    def detach_outlet(self, eio_sid: str) -> None:
        self.eio.outlets.pop(eio_sid, None)

    def eio_socket(self, eio_sid: str) -> Any:
        """python-engineio's socket object of ``eio_sid`` (None when gone)."""
        return self.eio.sockets.get(eio_sid)

    def eio_sid_of(self, sid: str) -> str | None:
        """The Engine.IO session of Socket.IO ``sid`` (namespace ``/``)."""
        eio_sid: str | None = self.manager.eio_sid_from_sid(sid, "/")
        return eio_sid

    def open_session(self, eio_sid: str) -> Any:
        """python-engineio's socket of ``eio_sid`` while it is open (not closing), else None."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing:
            return None
        return socket

    def outlet_for(self, eio_sid: str) -> tuple[Outlet, bool]:
        """Where ``eio_sid``'s frames go, and whether that is the direct websocket outlet."""
        scope = (self.environ.get(eio_sid) or {}).get("asgi.scope") or {}
        extension = (scope.get("extensions") or {}).get(OUTLET_EXTENSION)
        if extension is not None:
            outlet: Outlet = extension["outlet"]
            return outlet, True
        return QueueOutlet(self.eio.sockets.get(eio_sid)), False
