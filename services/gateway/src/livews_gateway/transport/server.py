"""uvicorn, run the gateway's way: its websocket protocol, and a drain before shutdown.

:class:`GatewayServer` extends ``uvicorn.Server`` (``handle_exit``, ``started``,
``should_exit``: semi-internal) so that the first SIGTERM drains instead of exiting.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from livews_gateway.limits import InboundBudget
from livews_gateway.settings import MAX_INBOUND_MESSAGE_BYTES, GatewaySettings
from livews_gateway.transport.wsprotocol import protocol_class

if TYPE_CHECKING:
    from livews_gateway.app import GatewayApp

log = logging.getLogger("livews_gateway")


def inbound_budget(settings: GatewaySettings) -> InboundBudget:
    """A new connection's inbound budget as ``settings`` say."""
    return InboundBudget(
        message_rate=settings.inbound_message_rate,
        message_burst=settings.inbound_message_burst,
        byte_rate=settings.inbound_byte_rate,
        byte_burst=settings.inbound_byte_burst,
        strike_limit=settings.inbound_strikes,
    )


class GatewayServer(uvicorn.Server):
    """uvicorn's server, with a drain between the first signal and the shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain_gateway = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._drain_requested = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await super().serve(sockets)
        finally:
            if self._drain_task is not None and not self._drain_task.done():
                self._drain_task.cancel()
            if self._drain_task is not None:
                await asyncio.gather(self._drain_task, return_exceptions=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        draining_signal = sig in (signal.SIGTERM, signal.SIGINT)
        if draining_signal and not self._drain_requested and self.started and self._loop:
            self._drain_requested = True
            self._loop.call_soon_threadsafe(self._begin_drain)
            return
        super().handle_exit(sig, frame)

    def _begin_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            await self._drain_gateway()
        finally:
            log.info("drained; exiting")
            self.should_exit = True


def quiet_websocket_lines(record: logging.LogRecord) -> bool:
    if record.levelno > logging.INFO:
        return True
    message = str(record.msg)
    return not ('"WebSocket ' in message or message in ("connection open", "connection closed"))


def build_server(app: GatewayApp, settings: GatewaySettings, host: str, port: int) -> GatewayServer:
    """uvicorn on ``app`` with the gateway's protocol (its outlet, inbound checks and budget)."""
    metrics = app.gateway.metrics

    def budget() -> InboundBudget:
        return inbound_budget(settings)

    refusals: dict[str, Any] = {}  # label → counter child: a flood is counted per message

    def refused(why: str) -> None:
        child = refusals.get(why)
        if child is None:
            child = refusals[why] = metrics.inbound_refused.labels(why)
        child.inc()

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=protocol_class(
            buffer_bytes=settings.client_buffer_bytes,
            sndbuf=settings.socket_sndbuf,
            budget_factory=budget if settings.inbound_message_rate else None,
            on_refused=refused,
        ),
        ws_max_size=MAX_INBOUND_MESSAGE_BYTES,
        ws_per_message_deflate=settings.compression,
        ws_ping_interval=None,  # Engine.IO pings; a second heartbeat would only cost
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        backlog=4096,
        timeout_graceful_shutdown=5,
    )
    return GatewayServer(config, lambda: app.gateway.drain(settings.drain_seconds))
