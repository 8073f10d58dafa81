"""``livews-gateway``: the Socket.IO gateway on uvicorn (uvloop, httptools, websockets).

Configuration comes from the environment (docs/gateway.md lists every variable); only
where to listen is a flag. SIGTERM (or Ctrl-C) drains: /readyz turns 503, new handshakes
are refused, every client gets ``bye`` server_shutdown spread over GATEWAY_DRAIN_SECONDS,
then the process exits 0. A second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn

from livews_common.logs import configure_logging
from livews_common.settings import ConfigError
from livews_gateway.app import GatewayApp, create_app
from livews_gateway.gateway import Gateway
from livews_gateway.settings import MAX_INBOUND_MESSAGE_BYTES, GatewaySettings
from livews_gateway.wsprotocol import protocol_class

log = logging.getLogger("livews_gateway")

DEFAULT_PORT = 8002


class GatewayServer(uvicorn.Server):
    """uvicorn's server, with a drain between the first signal and the shutdown."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway, drain_seconds: float) -> None:
        super().__init__(config)
        self._gateway = gateway
        self._drain_seconds = drain_seconds
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
            await self._gateway.drain(self._drain_seconds)
        finally:
            log.info("drained; exiting")
            self.should_exit = True


def _quiet_websocket_lines(record: logging.LogRecord) -> bool:
    if record.levelno > logging.INFO:
        return True
    message = str(record.msg)
    return not ('"WebSocket ' in message or message in ("connection open", "connection closed"))


def build_server(app: GatewayApp, settings: GatewaySettings, host: str, port: int) -> GatewayServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=protocol_class(buffer_bytes=settings.client_buffer_bytes, sndbuf=settings.socket_sndbuf),
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
    return GatewayServer(config, app.gateway, settings.drain_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="livews-gateway",
        description="LiveWebsocket Socket.IO gateway. Configured by environment variables "
        "(AUTH_JWKS_URL, REDIS_URL, GATEWAY_*); see docs/gateway.md.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    try:
        settings = GatewaySettings()
    except (ConfigError, ValueError) as exc:
        sys.exit(f"livews-gateway: {exc}")
    configure_logging("gateway", json=settings.is_prod, level=settings.log_level)
    # uvicorn logs every websocket opening and closing at INFO: at thousands of clients that
    # is noise, and the metrics count them anyway.
    logging.getLogger("uvicorn.error").addFilter(_quiet_websocket_lines)
    log.info(
        "starting", extra={"instance": settings.instance_id, "host": args.host, "port": args.port}
    )
    server = build_server(create_app(settings), settings, args.host, args.port)
    server.run()
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
