"""The Socket.IO edge: event handlers that call the gateway and put its errors on the wire.

Every client event answers through its ack: the gateway's result, or
``{"ok": false, "code", "message"}`` for a :class:`~livews_gateway.errors.RequestError`.
A refused connect raises python-socketio's ``ConnectionRefusedError`` with
``{"code": ...}`` as its data, which the client sees as ``connect_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from socketio.exceptions import ConnectionRefusedError as SocketRefused

from livews_common.codes import ByeCode
from livews_gateway.errors import AuthRefused, BadRequest, RequestError
from livews_gateway.gateway import Gateway
from livews_gateway.transport.engine import GatewaySocketIO

log = logging.getLogger(__name__)

Handler = Callable[[str, object], Awaitable[dict[str, Any]]]


def register(sio: GatewaySocketIO, gateway: Gateway) -> None:
    """Install the gateway's handlers on ``sio`` (namespace ``/``)."""

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        # Pending sessions are not counted by the handshake's check: several may authorize
        # at once, so the authorized limit is checked again here.
        if len(gateway.clients) >= gateway.settings.max_connections:
            gateway.metrics.refused_handshakes.labels("full").inc()
            raise SocketRefused("rate_limited: at connection limit", {"code": "rate_limited"})
        try:
            await gateway.connect(sid, environ, auth)
        except AuthRefused as exc:
            gateway.metrics.auth_failures.labels(exc.reason).inc()
            raise SocketRefused(exc.message, {"code": str(exc.code)}) from None
        client = gateway.clients.get(sid)
        connection = sio.connection(client.eio_sid) if client is not None else None
        if client is not None and connection is not None:
            # Repeated excess over the inbound budget: bye rate_limited, then the disconnect.
            connection.on_exhausted = lambda: gateway.disconnector.kick(
                client, ByeCode.RATE_LIMITED, "too many messages"
            )

    async def disconnect(sid: str, reason: object = None) -> None:
        gateway.disconnected(sid)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("subscribe", _answering(gateway, "subscribe", gateway.subscribe))
    sio.on("unsubscribe", _answering(gateway, "unsubscribe", gateway.unsubscribe))
    sio.on("auth:refresh", _answering(gateway, "auth:refresh", gateway.refresh))

    # Unknown events are only counted and answered with one shared ack: no parsing, no
    # formatting per call (the inbound budget already charged the message).
    unknown_ack = BadRequest("unknown event").ack()
    unknown_count = gateway.metrics.requests.labels("unknown", "bad_request")

    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        unknown_count.inc()
        return unknown_ack

    sio.on("*", unknown)


def _answering(
    gateway: Gateway, event: str, call: Handler
) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handler(sid: str, *args: Any) -> dict[str, Any]:
        try:
            result = await call(sid, args[0] if args else None)
        except RequestError as exc:
            if isinstance(exc, AuthRefused):
                gateway.metrics.auth_failures.labels(exc.reason).inc()
            gateway.metrics.requests.labels(event, str(exc.code)).inc()
            return exc.ack()
        gateway.metrics.requests.labels(event, "ok").inc()
        return result

    return handler
