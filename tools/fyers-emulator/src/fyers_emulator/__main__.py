"""``fyers-emulator [--host H] [--port P]``: run the emulator on uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from fyers_emulator.app import create_app
from fyers_emulator.settings import ConfigError, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fyers-emulator",
        description=(
            "A local stand-in for Fyers: OAuth, REST and the HSM data socket, with fault "
            "injection under /admin. Configured by FYERS_* and EMULATOR_* environment "
            "variables (see docs/emulator.md)."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"fyers-emulator: {exc}")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=1 << 20,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
