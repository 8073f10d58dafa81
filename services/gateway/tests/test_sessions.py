"""Tokens at connect, token lifetime, revocation and drain — against a real gateway process."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import time
from typing import Any

import httpx
import pytest
import socketio
from cryptography.hazmat.primitives.asymmetric import ec

from livews_devtools.fleet_gateway import (
    GatewayProcess,
    TokenMint,
    make_tick,
    publish_tick,
    start_gateway,
)

SBIN = "NSE:SBIN-EQ"
SERVER_DISCONNECT = socketio.AsyncClient.reason.SERVER_DISCONNECT


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(mint: TokenMint) -> dict[str, str | None]:
    """Every token a gateway must refuse, by what is wrong with it."""
    now = int(time.time())
    claims = mint.claims()
    header = {"alg": "ES256", "kid": mint.kid, "typ": "JWT"}
    valid = mint.mint()
    head, _payload, signature = valid.split(".")
    altered = json.loads(base64.urlsafe_b64decode(_payload + "=="))
    altered["sub"] = "SOMEONE-ELSE"
    return {
        "none": None,
        "garbage": "garbage",
        "not_three_parts": "a.b",
        "alg_none": _b64(json.dumps({**header, "alg": "none"}).encode())
        + "."
        + _b64(json.dumps(claims).encode())
        + ".",
        "hs256_with_public_key": mint.sign_raw(
            {**header, "alg": "HS256"}, claims, mint.public_pem()
        ),
        "foreign_key_real_kid": mint.sign(claims, key=ec.generate_private_key(ec.SECP256R1())),
        "unknown_kid": mint.sign(claims, kid="not-a-known-kid"),
        "wrong_audience": mint.mint(aud="someone-else"),
        "wrong_issuer": mint.mint(iss="evil-issuer"),
        "expired": mint.mint(iat=now - 120, exp=now - 60),
        "altered": ".".join([head, _b64(json.dumps(altered).encode()), signature]),
        "missing_claims": mint.sign({k: v for k, v in claims.items() if k != "sid"}),
    }


async def test_bad_tokens_are_refused_with_unauthorized(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    for why, token in forged_tokens(token_mint).items():
        error = await probes().refused(gateway.url, token)
        assert error["data"] == {"code": "unauthorized"}, why
        assert error["message"].startswith("unauthorized"), (why, error)
    samples = gateway.metrics()
    reasons = {k for k, v in samples.items() if k.startswith("livews_gateway_auth_failures_total")}
    for reason in ("missing", "malformed", "bad_algorithm", "bad_signature", "unknown_kid",
                   "bad_audience", "bad_issuer", "expired"):  # fmt: skip
        assert f'livews_gateway_auth_failures_total{{reason="{reason}"}}' in reasons, reason
    # And a good one still gets in.
    ok = probes()
    await ok.connect(gateway.url, token_mint.mint())
    assert ok.sio.connected


async def test_token_without_market_data_scope_is_forbidden(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    error = await probes().refused(gateway.url, token_mint.mint(scope="profile"))
    assert error["data"] == {"code": "forbidden"}


async def test_expiry_warns_then_disconnects(
    gateway: GatewayProcess, token_mint: TokenMint, probes: Any
) -> None:
    token = token_mint.mint(ttl=4)
    exp = token_mint_exp(token)
    client = probes()
    await client.connect(gateway.url, token)
    warning = await client.wait_event("auth:expiring", timeout=6)
    assert warning == {"exp": exp}
    assert time.time() < exp
    bye = await client.wait_event("bye", timeout=6)
    assert bye["code"] == "token_expired" and bye["reconnect"] is False
    assert time.time() >= exp - 0.05
    # A Socket.IO disconnect: python-socketio (and socket.io-client) stay away after it.
    assert await client.wait_event("disconnect") == SERVER_DISCONNECT
    assert client.names().index("bye") < client.names().index("disconnect")


def token_mint_exp(token: str) -> int:
    payload = token.split(".")[1]
    exp: int = json.loads(base64.urlsafe_b64decode(payload + "=="))["exp"]
    return exp


async def test_auth_refresh_extends_the_connection(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    first = token_mint.mint(sub="XY1", ttl=3)
    client = probes()
    await client.connect(gateway.url, first)
    await client.call("subscribe", {"symbols": [SBIN]})

    assert (await client.call("auth:refresh", {"token": "garbage"}))["code"] == "unauthorized"
    other = await client.call("auth:refresh", {"token": token_mint.mint(sub="XY2")})
    assert other["ok"] is False and other["code"] == "forbidden"

    renewed = token_mint.mint(sub="XY1", ttl=60)
    ack = await client.call("auth:refresh", {"token": renewed})
    assert ack == {"ok": True, "exp": token_mint_exp(renewed)}
    # Past the first token's expiry the socket is still up and still served.
    await asyncio.sleep(max(0.0, token_mint_exp(first) + 1.0 - time.time()))
    await publish_tick(redis_client, make_tick(SBIN, 1))
    await client.wait_for(lambda: client.ticks(SBIN), "a tick after the old expiry")
    assert client.sio.connected and client.of("bye") == []


async def test_revoked_session_is_disconnected_and_refused(
    gateway: GatewayProcess, token_mint: TokenMint, redis_client: Any, probes: Any
) -> None:
    a1, a2, b = probes(), probes(), probes()
    await a1.connect(gateway.url, token_mint.mint(sid="session-a"))
    await a2.connect(gateway.url, token_mint.mint(sid="session-a"))
    await b.connect(gateway.url, token_mint.mint(sid="session-b"))
    await redis_client.set("auth:revoked:session-a", "logout")
    await redis_client.publish(
        "auth:revoked", json.dumps({"sid": "session-a", "reason": "logout", "ts": 1})
    )
    for client in (a1, a2):
        bye = await client.wait_event("bye")
        assert bye["code"] == "session_revoked" and bye["reconnect"] is False
        assert await client.wait_event("disconnect") == SERVER_DISCONNECT
    assert b.sio.connected and b.of("bye") == []
    error = await probes().refused(gateway.url, token_mint.mint(sid="session-a"))
    assert error["data"] == {"code": "unauthorized"}


@pytest.mark.timeout(60)
async def test_sigterm_drains_with_bye_spread_over_the_drain_window(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    gw = start_gateway(spawn, tmp_path, redis_url, token_mint.url, GATEWAY_DRAIN_SECONDS="2")
    clients = [probes() for _ in range(8)]
    for client in clients:
        await client.connect(gw.url, token_mint.mint())
    started = time.monotonic()
    gw.process.signal(signal.SIGTERM)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gw.url}/readyz")
        assert response.status_code == 503 and response.json()["reason"] == "draining"
        handshake = await http.get(f"{gw.url}/socket.io/?EIO=4&transport=polling")
        assert handshake.status_code == 503
    for client in clients:
        bye = await client.wait_event("bye", timeout=10)
        assert bye == {"code": "server_shutdown", "message": bye["message"], "reconnect": True}
        # Not a Socket.IO disconnect: the transport ended, so a client reconnects by itself.
        reason = await client.wait_event("disconnect")
        assert reason != SERVER_DISCONNECT, reason
    arrivals = sorted(client.time_of("bye") - started for client in clients)
    assert arrivals[-1] < 2.0 + 1.0, f"not within the drain window: {arrivals}"
    assert arrivals[-1] - arrivals[0] > 0.3, f"not spread: {arrivals}"
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, gw.process.proc.wait, 15) == 0  # type: ignore[union-attr]


@pytest.mark.timeout(60)
async def test_drain_closes_polling_and_upgraded_sessions_so_clients_reconnect(
    spawn: Any, tmp_path: Any, redis_url: str, token_mint: TokenMint, probes: Any
) -> None:
    """Sessions without the direct websocket outlet end without a close packet too."""
    gw = start_gateway(
        spawn, tmp_path, redis_url, token_mint.url, GATEWAY_DRAIN_SECONDS="1",
        GATEWAY_TRANSPORTS="websocket,polling",
    )  # fmt: skip
    upgraded, polling = probes(), probes()
    # python-socketio's default transports: long-polling first, then the websocket upgrade.
    await upgraded.sio.connect(gw.url, auth={"token": token_mint.mint()}, wait_timeout=10)
    await polling.sio.connect(
        gw.url, auth={"token": token_mint.mint()}, transports=["polling"], wait_timeout=10
    )
    await asyncio.sleep(1.0)  # let the upgrade finish
    assert upgraded.sio.transport() == "websocket" and polling.sio.transport() == "polling"
    gw.process.signal(signal.SIGTERM)
    for client in (upgraded, polling):
        bye = await client.wait_event("bye", timeout=10)
        assert bye["code"] == "server_shutdown" and bye["reconnect"] is True
        reason = await client.wait_event("disconnect", timeout=15)
        assert reason != SERVER_DISCONNECT, (client.sio.transport(), reason)
