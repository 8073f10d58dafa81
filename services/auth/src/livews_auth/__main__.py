"""``livews-auth [--host H] [--port P]``: run the auth service on uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from livews_auth.app import create_app
from livews_auth.keys import generate_private_key_pem
from livews_auth.settings import AuthSettings
from livews_common import cli
from livews_common.logs import configure_logging

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.script_parser(
        "livews-auth",
        "livews-auth",
        (
            "LiveWebsocket auth service: Fyers sign-in, access JWTs and their JWKS, refresh "
            "sessions, custody of the feed account's Fyers token. Configured by environment "
            "variables (docs/auth.md)."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument(
        "--port", type=cli.port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    parser.add_argument(
        "--generate-key",
        action="store_true",
        help="print a new ES256 signing key (PEM) for AUTH_SIGNING_KEY and exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.generate_key:
        sys.stdout.write(generate_private_key_pem().decode())
        return
    settings = cli.load_settings("livews-auth", AuthSettings.load)
    # Building the app also parses the signing and verification keys: check those too.
    app = cli.load_settings("livews-auth", lambda: create_app(settings))
    if args.check_config:
        cli.print_settings("livews-auth", cli.settings_items(settings))
    configure_logging("auth", json=settings.json_logs, level=settings.log_level)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,  # keep configure_logging's handlers and redaction
        access_log=False,  # request lines carry codes in query strings; AccessLog omits them
        proxy_headers=False,  # forwarded headers are believed per AUTH_TRUSTED_PROXIES only
        server_header=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
