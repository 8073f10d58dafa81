"""The websocket protocol uvicorn runs for each client: uvicorn's own, plus flow control.

ASGI gives an application ``await send(...)`` and nothing else: no way to ask whether a
client keeps up, no way to write without a task per message, no way to drop a client that
stopped reading. This subclass of uvicorn's sans-I/O websocket protocol adds exactly that,
through an :class:`~livews_gateway.outlet.WebSocketOutlet` that it places in the ASGI scope
(``scope["extensions"]["livews.outlet"]["outlet"]``):

* the transport's write buffer gets a high-water mark of ``buffer_bytes``; above it the
  connection is *paused* (asyncio's ``pause_writing``) and the fan-out conflates instead of
  writing;
* ``write_text`` frames a message and hands it to the transport synchronously;
* ``abort`` drops the TCP connection without waiting for the buffer to drain.

And on the way in, before anything is queued for python-engineio (so whatever a client
sends, at most one message per connection waits in memory — uvicorn stops reading until
the application took it):

* a binary websocket message, an Engine.IO base64 binary packet (``b…``) or a Socket.IO
  BINARY_EVENT / BINARY_ACK (``45…``/``46…``) closes the connection (1003): the protocol is
  text only, and python-socketio would buffer the announced attachments without a cap;
* every message is charged to the connection's :class:`~livews_gateway.limits.InboundBudget`;
  one over budget is dropped. Once the budget is exhausted (repeated excess), an authorized
  client's ``on_exhausted`` runs (the gateway says ``bye`` rate_limited and disconnects it),
  the connection stops being read and is closed (1008) a second later whatever the client
  does; a connection without ``on_exhausted`` (not authorized yet) is closed at once.

Everything else (handshake, ping/pong, close, the ASGI send/receive that python-engineio
uses) is uvicorn's code, unchanged. What it keeps per connection is made lighter (issue #17):
its attributes live in ``__slots__`` (no instance dict of ~40 entries), its receive queue
and ``writable`` event are :mod:`~livews_gateway.transport.inbox`'s, and the handshake
request's headers and the last message received are let go of once read (the websockets
parser's generator would otherwise hold them until the next message).
"""

from __future__ import annotations

import socket
from asyncio import BaseTransport, Transport
from collections.abc import Callable
from typing import Any, ClassVar, cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import State

from livews_gateway.limits import InboundBudget
from livews_gateway.transport.inbox import Inbox, WriteGate
from livews_gateway.transport.outlets import WebSocketOutlet

#: Key of the scope extension that carries the outlet (and the protocol, as "connection").
OUTLET_EXTENSION = "livews.outlet"
#: Seconds a connection closed by the transport has to finish before it is aborted.
CLOSE_GRACE = 2.0
#: Seconds between ``bye`` rate_limited and the transport's own close of that connection.
CUT_OFF_GRACE = 1.0
#: Close codes (RFC 6455): unsupported data (binary), policy violation (budget, admission),
#: service restart (a draining gateway's goodbye).
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_RESTART = 1012


def _is_binary_text(head: bytes) -> bool:
    """A text message that carries binary: Engine.IO base64 (``b``), Socket.IO ``45``/``46``."""
    return head[:1] == b"b" or (head[:1] == b"4" and head[1:2] in (b"5", b"6"))


#: The attributes uvicorn's protocol sets (0.35–0.54), held in slots rather than a dict.
UVICORN_ATTRIBUTES = (
    "config", "app", "loop", "logger", "root_path", "asgi_version", "app_state",
    "connections", "tasks", "default_headers", "transport", "server", "client", "scheme",
    "queue", "handshake_initiated", "handshake_complete", "close_sent", "disconnected",
    "close_timer", "close_timeout", "initial_response", "conn", "read_paused", "writable",
    "ping_interval", "ping_timeout", "ping_timer", "pong_timer", "pending_ping_payload",
    "ping_sent_at", "last_ping_rtt", "frames", "curr_msg_data_type", "scope", "request",
    "response",
)  # fmt: skip
#: What a handshake request holds once uvicorn copied its headers into the ASGI scope.
_NO_HEADERS = Headers()


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol with an outlet (see the module doc)."""

    __slots__ = (
        *UVICORN_ATTRIBUTES, "_outlet", "_told", "inbound", "on_exhausted", "refused",
        "write_paused",
    )  # fmt: skip

    #: High-water mark of the transport's write buffer (bytes); set by :func:`protocol_class`.
    buffer_bytes: int = 256 * 1024
    #: SO_SNDBUF for the client socket; 0 leaves the kernel's autotuning alone.
    sndbuf: int = 0
    #: Builds each connection's inbound budget; None = no budget. Set by protocol_class.
    budget_factory: ClassVar[Callable[[], InboundBudget] | None] = None
    #: Told why the transport closed or dropped something ("binary", "rate", "rate_close").
    on_refused: ClassVar[Callable[[str], None] | None] = None

    write_paused: bool
    _outlet: WebSocketOutlet | None
    inbound: InboundBudget | None
    #: Run once when the budget is exhausted (the gateway's bye rate_limited); set per client.
    on_exhausted: Callable[[], None] | None
    #: Why the transport closed this connection (None while it did not).
    refused: str | None
    _told: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = WriteGate()  # type: ignore[assignment]
        self.write_paused = False
        self._outlet = None
        self.inbound = None
        self.on_exhausted = None
        self.refused = None
        self._told = False

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        factory = type(self).budget_factory
        self.inbound = factory() if factory is not None else None
        tcp = cast(Transport, transport)
        tcp.set_write_buffer_limits(high=self.buffer_bytes, low=self.buffer_bytes // 4)
        if self.sndbuf:
            sock = tcp.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)

    def pause_writing(self) -> None:
        self.write_paused = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        super().resume_writing()
        if self._outlet is not None:
            self._outlet.resumed()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The websockets parser keeps this request for the connection's life (a local of its
        # generator); its headers were copied into the scope and are not read again.
        event.headers = _NO_HEADERS
        scope = getattr(self, "scope", None)
        if scope is not None and self.response.status_code == 101:
            self._outlet = WebSocketOutlet(self)
            scope.setdefault("extensions", {})[OUTLET_EXTENSION] = {
                "outlet": self._outlet,
                "connection": self,
            }

    # --- inbound ----------------------------------------------------------------------------

    def handle_text(self, event: Frame) -> None:
        super().handle_text(event)
        event.data = b""  # held by the websockets parser until the next frame (see handle_connect)

    def handle_bytes(self, event: Frame) -> None:
        # Never accumulated, never queued: the first binary frame ends the connection.
        self.refuse(CLOSE_UNSUPPORTED, "binary messages are not accepted", "binary")

    def handle_cont(self, event: Frame) -> None:
        if self.refused is None and self.curr_msg_data_type == "text":
            super().handle_cont(event)
        event.data = b""

    def send_receive_event_to_app(self) -> None:
        frames = self.frames
        if self.close_sent or self.refused is not None or not frames:
            self.frames = []
            return
        if _is_binary_text(bytes(frames[0][:2])):
            self.refuse(CLOSE_UNSUPPORTED, "binary packets are not accepted", "binary")
            return
        budget = self.inbound
        if budget is not None and not budget.charge(sum(len(f) for f in frames)):
            self.frames = []
            self._over_budget(budget)
            return
        super().send_receive_event_to_app()

    def _over_budget(self, budget: InboundBudget) -> None:
        report = type(self).on_refused
        if report is not None:
            report("rate")
        if not budget.exhausted:
            return
        if self._told:
            self._deafen()  # uvicorn resumed reading for a queued message: stop again
            return
        self._told = True
        callback, self.on_exhausted = self.on_exhausted, None
        if callback is None:  # not authorized yet: no one to say bye to
            self.refuse(CLOSE_POLICY, "inbound rate limit exceeded", "rate_close")
            return
        callback()  # bye rate_limited (written now), then the Socket.IO disconnect
        # Read nothing more (it would all be dropped anyway) and close shortly even if the
        # client does not take part in the closing handshake.
        self._deafen()
        self.loop.call_later(
            CUT_OFF_GRACE, self.refuse, CLOSE_POLICY, "inbound rate limit exceeded", "rate_close"
        )

    def _deafen(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def refuse(self, code: int, reason: str, why: str) -> None:
        """Close the connection from the transport: close frame now, abort after a grace.

        Also ends a connection that :meth:`hang_up` is closing politely (now, not later).
        """
        if self.refused not in (None, "bye") or self.transport is None:
            return
        report = type(self).on_refused
        if report is not None:
            report(why)
        self._close(code, reason, why)

    def hang_up(self, code: int, reason: str) -> None:
        """End the connection with a websocket closing handshake, as a goodbye.

        A close frame follows what was written (the ``bye``), with no Engine.IO or Socket.IO
        close packet, so an unmodified client takes it for a lost connection and reconnects
        by itself. Unlike :meth:`refuse` the TCP connection stays until the peer answers the
        close frame (uvicorn's ``handle_close`` then closes it) or ``CLOSE_GRACE`` passes
        (then it is aborted): closing at once, while the peer is still sending, would make
        the kernel reset the connection and could discard the ``bye`` unread at the peer.
        Not counted as a refusal; nothing more is read or written.
        """
        if self.refused is not None or self.transport is None or self.transport.is_closing():
            return
        self.refused = "bye"
        self.frames = []
        if self.close_sent or self.conn.state is not State.OPEN:
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(CLOSE_GRACE, self._close_late)

    def _close_late(self) -> None:
        # The peer has not answered our close frame in CLOSE_GRACE (it stopped reading, or
        # is gone): drop the connection and whatever is still buffered for it.
        self.close_timer = None
        if not self.disconnected and self.transport is not None:
            self.transport.abort()

    def _close(self, code: int, reason: str, why: str) -> None:
        assert self.transport is not None
        self.refused = why
        self.frames = []
        if self.transport.is_closing():
            return
        if not self.close_sent and self.conn.state is State.OPEN:
            self.conn.fail(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()  # flushes what is buffered, then closes ...
        self.loop.call_later(CLOSE_GRACE, self._abort_late)

    def _abort_late(self) -> None:
        # ... unless the peer does not read: then close() would wait for ever.
        if not self.disconnected and self.transport is not None:
            self.transport.abort()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # uvicorn keeps the handshake's request and response (their headers, ~2 KiB)
            # for the connection's life and reads neither after the accept (issue #17).
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # uvicorn does not count a denial response as a finished handshake and would log
            # "ASGI callable returned without completing handshake" for every refused client.
            self.handshake_complete = True

    # --- used by WebSocketOutlet --------------------------------------------------------------

    def is_open(self) -> bool:
        return not (self.close_sent or self.disconnected) and self.conn.state is State.OPEN

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def write_text(self, data: bytes) -> bool:
        conn = self.conn
        if self.close_sent or self.disconnected or conn.state is not State.OPEN:
            return False
        if conn.extensions:  # permessage-deflate: websockets compresses, per connection
            try:
                conn.send_text(data)
            except InvalidState:
                return False
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        # Without extensions a server frame is a fixed header and the payload as is (no
        # mask): framing it here skips websockets' copies — the same bytes, ~10x cheaper.
        # uvicorn drains conn.data_to_send() after every operation, so nothing of the
        # protocol's own can be waiting to go out before this frame.
        self.transport.writelines((text_frame_header(len(data)), data))
        return True

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def end_receive(self) -> None:
        """Make the application's pending ``receive`` return a disconnect (its session ended
        on the server's side, e.g. a ping timeout); it then closes the websocket itself."""
        if not self.disconnected:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of a final, unmasked text frame of ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


def protocol_class(
    *,
    buffer_bytes: int,
    sndbuf: int = 0,
    budget_factory: Callable[[], InboundBudget] | None = None,
    on_refused: Callable[[str], None] | None = None,
) -> type[GatewayWebSocketProtocol]:
    """A protocol class for uvicorn's ``ws=`` option, with these limits baked in."""
    return type(
        "ConfiguredGatewayWebSocketProtocol",
        (GatewayWebSocketProtocol,),
        {
            "__slots__": (),
            "buffer_bytes": buffer_bytes,
            "sndbuf": sndbuf,
            "budget_factory": staticmethod(budget_factory) if budget_factory else None,
            "on_refused": staticmethod(on_refused) if on_refused else None,
        },
    )
