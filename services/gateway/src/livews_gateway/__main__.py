"""``livews-gateway``: the Socket.IO gateway on uvicorn (uvloop, httptools, websockets).

Configuration comes from the environment (docs/gateway.md lists every variable); only
where to listen is a flag. SIGTERM (or Ctrl-C) drains: /readyz turns 503, new handshakes
are refused, every client gets ``bye`` server_shutdown spread over GATEWAY_DRAIN_SECONDS,
then the process exits 0. A second signal exits at once.
"""

from __future__ import annotations

import logging
import sys

from livews_common import cli
from livews_common.logs import configure_logging
from livews_gateway.settings import GatewaySettings
from livews_gateway.transport.versions import UnsupportedVersion, check_versions

log = logging.getLogger("livews_gateway")

DEFAULT_PORT = 8002


def main(argv: list[str] | None = None) -> None:
    parser = cli.script_parser(
        "livews-gateway",
        "livews-gateway",
        "LiveWebsocket Socket.IO gateway. Configured by environment variables "
        "(AUTH_JWKS_URL, REDIS_URL, GATEWAY_*); see docs/gateway.md.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=cli.port, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    try:
        check_versions()
    except UnsupportedVersion as exc:
        sys.exit(f"livews-gateway: {exc}")
    # Imported after the check: an unsupported library must fail with its name, not with an
    # AttributeError from deep inside the transport code.
    from livews_gateway.app import create_app
    from livews_gateway.transport.server import build_server, quiet_websocket_lines

    settings = cli.load_settings("livews-gateway", GatewaySettings)
    if args.check_config:
        cli.print_settings("livews-gateway", cli.settings_items(settings))
    configure_logging("gateway", json=settings.json_logs, level=settings.log_level)
    # uvicorn logs every websocket opening and closing at INFO: at thousands of clients that
    # is noise, and the metrics count them anyway.
    logging.getLogger("uvicorn.error").addFilter(quiet_websocket_lines)
    log.info(
        "starting", extra={"instance": settings.instance_id, "host": args.host, "port": args.port}
    )
    server = build_server(create_app(settings), settings, args.host, args.port)
    try:
        server.run()
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn re-raises the captured SIGINT once its shutdown (our drain) is done,
        # and asyncio turns it into this; like uvicorn.run, end quietly instead of a traceback.
        pass
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
