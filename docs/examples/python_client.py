"""A LiveWebsocket market-data client in Python (python-socketio), as docs/clients.md shows it.

    pip install "python-socketio[asyncio_client]" httpx
    LIVEWS_URL=https://markets.example.com \
    LIVEWS_CLIENT_ID=reporting LIVEWS_CLIENT_SECRET=... \
    python python_client.py NSE:SBIN-EQ NSE:RELIANCE-EQ

A service gets its token with the client-credentials grant (LIVEWS_CLIENT_ID and
LIVEWS_CLIENT_SECRET); a program acting for a signed-in user passes that user's access
token in LIVEWS_TOKEN instead. Prints one line per event. Stops after LIVEWS_MAX_TICKS
ticks when that is set, else runs until interrupted or told to stay away (bye with
``reconnect: false``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx
import socketio

URL = os.environ.get("LIVEWS_URL", "http://127.0.0.1:8080")
MAX_TICKS = int(os.environ.get("LIVEWS_MAX_TICKS", "0"))


class Tokens:
    """A service token from POST /auth/oauth/token, fetched again shortly before it expires."""

    def __init__(self) -> None:
        self._token = os.environ.get("LIVEWS_TOKEN", "")
        self._expires_at = float("inf") if self._token else 0.0

    async def get(self) -> str:
        if time.time() < self._expires_at - 60:
            return self._token
        async with httpx.AsyncClient(base_url=URL, timeout=10) as http:
            response = await http.post(
                "/auth/oauth/token",
                data={"grant_type": "client_credentials", "scope": "md:read"},
                auth=(os.environ["LIVEWS_CLIENT_ID"], os.environ["LIVEWS_CLIENT_SECRET"]),
            )
        response.raise_for_status()  # 401 invalid_client: wrong id or secret
        body = response.json()
        self._token, self._expires_at = body["access_token"], time.time() + body["expires_in"]
        return self._token


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


async def main(symbols: list[str]) -> None:  # noqa: C901 (one handler per event)
    tokens = Tokens()
    # Default options: python-socketio reconnects by itself (with backoff) after a lost
    # connection, which is how the gateway ends one after a bye with reconnect: true.
    sio = socketio.AsyncClient()
    latest: dict[str, int] = {}  # symbol -> seq of the newest tick held
    done = asyncio.Event()
    ticks_seen = 0

    def merge(tick: dict[str, Any]) -> None:
        nonlocal ticks_seen
        held = latest.get(tick["symbol"])
        if held is not None and tick["seq"] <= held:
            return  # not newer than what we hold: ignore (the server should not send it)
        if held is not None and tick["seq"] > held + 1:
            say("conflated", tick["symbol"], f"seq {held} -> {tick['seq']}")  # fell behind
        latest[tick["symbol"]] = tick["seq"]
        ticks_seen += 1
        say("tick", tick["symbol"], tick["seq"], tick["ltp"])
        if MAX_TICKS and ticks_seen >= MAX_TICKS:
            done.set()

    @sio.event
    async def connect() -> None:
        say("connected")
        # Subscriptions belong to a connection: subscribe again after every (re)connect.
        ack = await sio.call("subscribe", {"symbols": symbols, "mode": "quote"}, timeout=10)
        say("subscribed", " ".join(ack["subscribed"]), "rejected", len(ack["rejected"]))

    @sio.event
    async def snapshot(data: dict[str, Any]) -> None:
        for tick in data.get("ticks", []):  # the latest value of each new subscription
            latest.pop(tick["symbol"], None)  # a snapshot restarts that symbol's seq rule
            merge(tick)
        for depth in data.get("depth", []):
            say("depth", depth["symbol"])

    @sio.event
    async def ticks(batch: list[dict[str, Any]]) -> None:
        for tick in batch:
            merge(tick)

    @sio.event
    async def depth(batch: list[dict[str, Any]]) -> None:
        for book in batch:
            say("depth", book["symbol"])

    @sio.event
    async def status(data: dict[str, Any]) -> None:
        say("status", data["upstream"])

    @sio.on("auth:expiring")
    async def expiring(data: dict[str, Any]) -> None:
        token = await tokens.get()  # a new token before the old one runs out
        ack = await sio.call("auth:refresh", {"token": token}, timeout=10)
        say("refreshed", ack.get("ok"))

    @sio.event
    async def bye(data: dict[str, Any]) -> None:
        say("bye", data["code"], "reconnect" if data["reconnect"] else "stay-away")
        if not data["reconnect"]:
            # token_expired / session_revoked: the server will not take this token again.
            done.set()

    @sio.event
    async def disconnect(reason: str = "") -> None:
        say("disconnected", reason)

    async def auth() -> dict[str, str]:
        return {"token": await tokens.get()}  # asked again on every reconnect

    try:
        await sio.connect(URL, transports=["websocket"], auth=auth, wait_timeout=10)
    except httpx.HTTPStatusError as exc:  # the token endpoint said no (401 invalid_client, …)
        say("token_error", exc.response.status_code, exc.response.text)
        raise SystemExit(1) from None
    except socketio.exceptions.ConnectionError as exc:  # refused: {"code": "unauthorized"}, …
        say("connect_error", exc)
        raise SystemExit(1) from None
    try:
        await done.wait()
    finally:
        await sio.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["NSE:SBIN-EQ"]))
