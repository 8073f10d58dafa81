"""``fyers-emulator [--host H] [--port P]``: run the emulator on uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from fyers_emulator.app import create_app
from fyers_emulator.settings import Settings
from livews_common import cli
from livews_common.logs import configure_logging

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.script_parser(
        "fyers-emulator",
        "fyers-emulator",
        (
            "A local stand-in for Fyers: OAuth, REST and the HSM data socket, with fault "
            "injection under /admin. Configured by FYERS_* and EMULATOR_* environment "
            "variables (see docs/emulator.md)."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument(
        "--port", type=cli.port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = cli.load_settings("fyers-emulator", Settings.from_env)
    if args.check_config:
        cli.print_settings("fyers-emulator", settings.items())
    configure_logging("emulator", json=settings.json_logs, level=settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=1 << 20,
        log_config=None,  # configure_logging's handlers: one format, no ANSI colour fields
        lifespan="on",
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
