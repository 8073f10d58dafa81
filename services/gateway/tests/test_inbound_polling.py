"""The inbound checks on the long-polling transport.

Websockets are attacked in tests/e2e/test_hostile_transport.py.

Raw Engine.IO over HTTP (httpx), so each packet is exactly what an attacker would send.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from livews_devtools.fleet_gateway import TokenMint, start_gateway

PATH = "/socket.io/"


async def _open(http: httpx.AsyncClient) -> str:
    """A polling session's sid (the OPEN packet of the handshake)."""
    r = await http.get(PATH, params={"EIO": "4", "transport": "polling"})
    assert r.status_code == 200 and r.text.startswith("0{"), r.text
    sid: str = json.loads(r.text[1:])["sid"]
    return sid


async def _post(http: httpx.AsyncClient, sid: str, body: str) -> None:
    r = await http.post(PATH, params={"EIO": "4", "transport": "polling", "sid": sid}, content=body)
    assert r.status_code == 200, r.text


async def _gone(http: httpx.AsyncClient, sid: str, within: float) -> float:
    """Seconds until the session is gone (its poll answers 400, or with a CLOSE packet)."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        r = await http.get(
            PATH, params={"EIO": "4", "transport": "polling", "sid": sid}, timeout=30
        )
        if r.status_code == 400 or r.text.split("\x1e")[-1] == "1":
            return time.monotonic() - began
    raise AssertionError(f"session {sid} still open after {within}s")


async def test_polling_binary_and_pending_deadline(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint
) -> None:
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_TRANSPORTS="websocket,polling",
        GATEWAY_PENDING_SECONDS="1", GATEWAY_PING_INTERVAL="2", GATEWAY_PING_TIMEOUT="2",
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=gw.url, timeout=10) as http:
        # Engine.IO base64 binary from an authorized client ends the session.
        sid = await _open(http)
        await _post(http, sid, "40" + json.dumps({"token": token_mint.mint()}))
        r = await http.get(PATH, params={"EIO": "4", "transport": "polling", "sid": sid})
        assert '"sid"' in r.text and r.text.startswith("40"), r.text
        await _post(http, sid, "b" + base64.b64encode(b"\x00" * 1000).decode())
        binary_s = await _gone(http, sid, 10)
        # So does a Socket.IO BINARY_EVENT header (it would make python-socketio buffer).
        sid = await _open(http)
        await _post(http, sid, "40" + json.dumps({"token": token_mint.mint()}))
        await _post(http, sid, '451000-["x",{"_placeholder":true,"num":0}]')
        header_s = await _gone(http, sid, 10)
        # A session that never authorizes is closed after GATEWAY_PENDING_SECONDS.
        sid = await _open(http)
        deadline_s = await _gone(http, sid, 10)
    closed = gw.metric("livews_gateway_inbound_refused_total", reason="binary")
    expired = gw.metric("livews_gateway_pending_closed_total", reason="deadline")
    print(f"\nBOUND polling: binary closed in {binary_s:.2f}s, BINARY_EVENT in {header_s:.2f}s, "
          f"unauthorized closed in {deadline_s:.2f}s (deadline 1s)")  # fmt: skip
    assert closed >= 2 and expired >= 1
    assert deadline_s < 6
