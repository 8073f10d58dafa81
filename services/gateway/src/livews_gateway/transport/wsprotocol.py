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

Everything else (handshake, ping/pong, close, the ASGI send/receive that python-engineio
uses) is uvicorn's code, unchanged.
"""

from __future__ import annotations

import socket
from asyncio import BaseTransport, Transport
from typing import cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request
from websockets.protocol import State

from livews_gateway.outlet import WebSocketOutlet

#: Key of the scope extension that carries the outlet.
OUTLET_EXTENSION = "livews.outlet"


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol with an outlet (see the module doc)."""

    #: High-water mark of the transport's write buffer (bytes); set by :func:`protocol_class`.
    buffer_bytes: int = 256 * 1024
    #: SO_SNDBUF for the client socket; 0 leaves the kernel's autotuning alone.
    sndbuf: int = 0

    write_paused = False
    _outlet: WebSocketOutlet | None = None

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
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
        scope = getattr(self, "scope", None)
        if scope is not None and self.response.status_code == 101:
            self._outlet = WebSocketOutlet(self)
            scope.setdefault("extensions", {})[OUTLET_EXTENSION] = {"outlet": self._outlet}

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
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


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of a final, unmasked text frame of ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


def protocol_class(*, buffer_bytes: int, sndbuf: int = 0) -> type[GatewayWebSocketProtocol]:
    """A protocol class for uvicorn's ``ws=`` option, with these limits baked in."""
    return type(
        "ConfiguredGatewayWebSocketProtocol",
        (GatewayWebSocketProtocol,),
        {"buffer_bytes": buffer_bytes, "sndbuf": sndbuf},
    )
