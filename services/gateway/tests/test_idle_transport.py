"""Engine.IO heartbeats on the gateway's direct websocket sessions (transport/eiosocket.py).

The gateway keeps no writer, receive or ping task, timer or deadline per websocket session:
one sweeper task writes every session's pings and closes a session whose ping went
unanswered (issue #17). These tests hold it to what python-engineio promised: a client that
answers pings stays, a silent one is dropped once ping interval + ping timeout have passed
(with a margin for a busy machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livews_devtools.fleet_gateway import TokenMint, start_gateway

pytestmark = pytest.mark.slow

PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0


async def _session(port: int, token: str) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
        open_timeout=10, ping_interval=None,
    )  # fmt: skip
    opening = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(opening, str) and opening.startswith("0{"), opening
    assert json.loads(opening[1:])["pingTimeout"] == int(PING_TIMEOUT * 1000)
    await ws.send("40" + json.dumps({"token": token}))
    answer = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(answer, str) and answer.startswith("40"), answer
    return ws


@pytest.mark.timeout(90)
async def test_pings_keep_an_answering_client_and_drop_a_silent_one(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint
) -> None:
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url,
        GATEWAY_PING_INTERVAL=str(PING_INTERVAL), GATEWAY_PING_TIMEOUT=str(PING_TIMEOUT),
    )  # fmt: skip
    answering = await _session(gw.port, token_mint.mint())
    silent = await _session(gw.port, token_mint.mint())

    async def answer_pings() -> int:
        pings = 0
        async for message in answering:
            if message == "2":
                pings += 1
                with contextlib.suppress(ConnectionClosed):
                    await answering.send("3")
        return pings

    answerer = asyncio.create_task(answer_pings())
    try:
        started = time.monotonic()
        # The silent client is pinged (by the sweeper) but never answers: it must be
        # dropped after about ping interval + ping timeout (2 s); 15 s for a busy machine.
        pinged = False
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(15):
                while True:
                    message = await silent.recv()
                    pinged = pinged or message == "2"
        dropped_after = time.monotonic() - started
        # Meanwhile the answering client has been pinged again and again and is still there.
        await asyncio.sleep(max(0.0, 6 * PING_INTERVAL - (time.monotonic() - started)))
        assert answerer.done() is False, "the answering client's connection ended"
    finally:
        await answering.close()
        await silent.close()
    pings = await asyncio.wait_for(answerer, 10)
    print(f"\nBOUND silent client dropped after {dropped_after:.1f}s (<= 15s), "
          f"answering client pinged {pings}x and kept")  # fmt: skip
    assert pinged, "the silent client was never pinged"
    assert dropped_after <= 15.0
    assert pings >= 3
