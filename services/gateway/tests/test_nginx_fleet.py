"""Three gateways behind the repository's nginx config (infra/nginx/nginx.conf).

Clients spread over the gateways with no stickiness; when one gateway dies, its clients
reconnect through nginx to the others and resume with a snapshot within 3 s.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from livews_devtools.fleet_auth import AuthService, login_async
from livews_devtools.fleet_gateway import (
    make_tick,
    parse_metrics,
    publish_tick,
    render_nginx_conf,
    start_gateway,
    start_nginx,
)
from livews_devtools.recorder import RecordingClient

pytestmark = pytest.mark.slow

SYMBOLS = ["NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:NIFTY50-INDEX"]


def test_rendered_config_keeps_everything_but_the_fleet(tmp_path: Path) -> None:
    conf = render_nginx_conf(18080, [1001, 1002], auth_port=1003, web_root=tmp_path)
    assert "server 127.0.0.1:1001 max_fails=1 fail_timeout=2s;" in conf
    assert "server 127.0.0.1:1002" in conf and "server 127.0.0.1:1003;" in conf
    assert "listen 127.0.0.1:18080;" in conf and "listen 8443" not in conf
    assert f"root {tmp_path};" in conf and "resolver 127.0.0.11" not in conf
    # The routing itself is the committed file's.
    for line in ("proxy_set_header Upgrade $http_upgrade;", "proxy_read_timeout 75s;",
                 "proxy_next_upstream error timeout http_502 http_503;"):  # fmt: skip
        assert line in conf


@pytest.mark.timeout(120)
async def test_clients_spread_and_survive_a_gateway_crash(
    spawn: Any, tmp_path: Path, redis_url: str, auth_service: AuthService, redis_client: Any
) -> None:
    gateways = [
        start_gateway(spawn, tmp_path, redis_url, auth_service.jwks_url, name=f"gw{i}")
        for i in range(3)
    ]
    lb = start_nginx(spawn, tmp_path, [g.port for g in gateways], auth_port=auth_service.port)
    async with httpx.AsyncClient(base_url=lb.url) as http:
        jwks = await http.get("/auth/.well-known/jwks.json")  # /auth routes to the auth service
        assert jwks.status_code == 200 and jwks.json()["keys"]
    session, token = await login_async(auth_service.url, "XB00001")
    await session.aclose()

    async def token_source() -> str:
        return token

    for symbol in SYMBOLS:
        await publish_tick(redis_client, make_tick(symbol, 1))
    clients = [RecordingClient(lb.url, token_source, SYMBOLS) for _ in range(12)]
    try:
        for client in clients:
            await client.start()
        async with asyncio.timeout(10):
            for client in clients:
                await client.snapshot_seen.wait()

        async with httpx.AsyncClient() as http:

            async def connections(port: int) -> float:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                return parse_metrics(text).get("livews_gateway_connections", 0.0)

            counts = [await connections(g.port) for g in gateways]
        assert sum(counts) == len(clients) and min(counts) >= 2, counts

        victim = gateways[1]
        killed_at = time.monotonic()
        victim.process.kill()
        # Its clients notice, reconnect through nginx to a live gateway and get a snapshot.
        moved: list[RecordingClient] = []
        async with asyncio.timeout(10):
            while len(moved) < counts[1]:
                moved = [c for c in clients if c.rec.snapshots >= 2]
                await asyncio.sleep(0.05)
        resumed_after = time.monotonic() - killed_at
        print(f"{len(moved)} clients of the killed gateway resumed in {resumed_after:.2f} s")
        assert resumed_after < 3.0
        assert len(moved) == counts[1]
        assert all(c.rec.disconnects == 1 and c.rec.connects == 2 for c in moved)

        # Everyone, moved or not, keeps receiving live ticks, in order.
        for symbol in SYMBOLS:
            await publish_tick(redis_client, make_tick(symbol, 2))
        async with asyncio.timeout(5):
            while not all(c.rec.seqs() == dict.fromkeys(SYMBOLS, 2) for c in clients):
                await asyncio.sleep(0.02)
        assert all(c.rec.stale_ticks == 0 for c in clients)
    finally:
        for client in clients:
            await client.stop()
