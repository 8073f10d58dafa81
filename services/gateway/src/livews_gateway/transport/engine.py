"""python-socketio's server, with Socket.IO packets written straight into each websocket.

python-engineio sends every packet through a per-socket ``asyncio.Queue`` drained by a
writer task, one ``await send`` per packet (measured at ~35 µs of CPU per frame, against
~12 µs for a direct write). Once a client's websocket outlet is attached (after its
connect was authorised), this server writes that client's Socket.IO packets — connect
and ack packets from python-socketio as well as the gateway's own frames — synchronously
through the outlet, in call order, so they can never overtake one another. Engine.IO's
own packets (ping, close, noop) still take the queue; they carry no ordering with data.
Clients on the long-polling transport have no outlet and keep python-engineio's path.
"""

from __future__ import annotations

from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet

from livews_gateway.outlet import Outlet


class GatewayEngineIO(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO server whose MESSAGE packets go through attached outlets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outlets: dict[str, Outlet] = {}

    async def send_packet(self, sid: str, pkt: Any) -> None:
        outlet = self.outlets.get(sid)
        if outlet is not None and pkt.packet_type == eio_packet.MESSAGE and not pkt.binary:
            outlet.write_text(pkt.encode().encode())
            return
        await super().send_packet(sid, pkt)


class GatewaySocketIO(socketio.AsyncServer):  # type: ignore[misc]
    """Socket.IO server on :class:`GatewayEngineIO`."""

    eio: GatewayEngineIO

    def _engineio_server_class(self) -> type[GatewayEngineIO]:
        return GatewayEngineIO

    def attach_outlet(self, eio_sid: str, outlet: Outlet) -> None:
        self.eio.outlets[eio_sid] = outlet

    def detach_outlet(self, eio_sid: str) -> None:
        self.eio.outlets.pop(eio_sid, None)

    def eio_socket(self, eio_sid: str) -> Any:
        """python-engineio's socket object of ``eio_sid`` (None when gone)."""
        return self.eio.sockets.get(eio_sid)
