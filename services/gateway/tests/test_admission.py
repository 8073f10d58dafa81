"""Who may open a socket: origins, the connection limit, and the long-polling fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import socketio

from livews_devtools.fleet_gateway import TokenMint, make_tick, publish_tick, start_gateway

SBIN = "NSE:SBIN-EQ"


async def test_origins_outside_the_allowlist_are_refused(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_CORS_ORIGINS="https://app.example"
    )
    allowed = probes()
    await allowed.connect(gw.url, token_mint.mint(), headers={"Origin": "https://app.example"})
    assert allowed.sio.connected
    with pytest.raises(socketio.exceptions.ConnectionError):
        await probes().connect(
            gw.url, token_mint.mint(), headers={"Origin": "https://evil.example"}
        )


async def test_connection_limit_refuses_handshakes_and_turns_unready(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(spawn, tmp_path, redis_url, token_mint.url, GATEWAY_MAX_CONNECTIONS="2")
    for _ in range(2):
        await probes().connect(gw.url, token_mint.mint())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await probes().connect(gw.url, token_mint.mint())
    async with httpx.AsyncClient(base_url=gw.url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "at connection limit"
        body = ready.json()
        assert body["status"] == "not_ready" and body["checks"]["connections"] == 2
        assert body["checks"]["max_connections"] == 2 and body["checks"]["redis"] == "ok"
    assert gw.metric("livews_gateway_refused_handshakes_total", reason="full") >= 1


async def test_long_polling_works_when_enabled(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, redis_client: Any
) -> None:
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_TRANSPORTS="websocket,polling"
    )
    await publish_tick(redis_client, make_tick(SBIN, 1))
    sio = socketio.AsyncClient(reconnection=False)
    received: list[Any] = []
    sio.on("snapshot", lambda data: received.append(("snapshot", data)))
    sio.on("ticks", lambda data: received.append(("ticks", data)))
    try:
        await sio.connect(
            gw.url, transports=["polling"], auth={"token": token_mint.mint()}, wait_timeout=10
        )
        assert sio.transport() == "polling"
        ack = await sio.call("subscribe", {"symbols": [SBIN]}, timeout=10)
        assert ack["subscribed"] == [SBIN]
        await publish_tick(redis_client, make_tick(SBIN, 2))
        for _ in range(100):
            if any(kind == "ticks" for kind, _ in received):
                break
            await sio.sleep(0.05)
        assert [kind for kind, _ in received] == ["snapshot", "ticks"]
        assert received[1][1][0]["seq"] == 2
    finally:
        # A polite polling disconnect waits for the pending long-poll (up to the ping interval).
        await sio.eio.disconnect(abort=True)
        if sio.eio.read_loop_task is not None:
            sio.eio.read_loop_task.cancel()
            await asyncio.gather(sio.eio.read_loop_task, return_exceptions=True)
        if sio.eio.http is not None:
            await sio.eio.http.close()


async def test_polling_is_refused_by_default(gateway: Any) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 400
