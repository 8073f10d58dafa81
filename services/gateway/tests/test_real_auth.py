"""The gateway behind the real auth service: tokens from a browser-like sign-in (the Fyers
emulator), both Socket.IO clients (python-socketio and Node's socket.io-client), forged
tokens against the real signing key, expiry, refresh, and logout across two replicas.

The auth service signs with a key the test generated (AUTH_SIGNING_KEY), so forged
variations can carry its real ``kid`` and even its real signature.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from livews_devtools.fleet_auth import AuthService, login_async, refresh_async, start_auth
from livews_devtools.fleet_gateway import (
    GatewayProcess,
    TokenMint,
    make_tick,
    publish_tick,
    start_gateway,
)
from livews_devtools.pytest_plugin import Emulator

SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"

pytestmark = pytest.mark.slow


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return payload


@pytest.fixture
def auth_key() -> Iterator[TokenMint]:
    """The auth service's signing key, held by the test too (its kid is set once known)."""
    yield TokenMint()


def _start_auth(
    spawn: Any, tmp_path: Path, redis_url: str, emulator: Emulator, key: TokenMint, **env: str
) -> AuthService:
    pem = key.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_SIGNING_KEY=pem, **env)
    jwks = httpx.get(auth.jwks_url, timeout=5).json()
    key.kid = jwks["keys"][0]["kid"]
    return auth


@pytest.fixture
def auth(
    spawn: Any, tmp_path: Path, redis_url: str, emulator: Emulator, auth_key: TokenMint
) -> AuthService:
    return _start_auth(spawn, tmp_path, redis_url, emulator, auth_key)


@pytest.fixture
def gw(spawn: Any, tmp_path: Path, redis_url: str, auth: AuthService) -> GatewayProcess:
    return start_gateway(spawn, tmp_path, redis_url, auth.jwks_url, GATEWAY_MAX_SYMBOLS="3")


async def test_python_client_flow(
    auth: AuthService, gw: GatewayProcess, redis_client: Any, probes: Any
) -> None:
    http, token = await login_async(auth.url, "XA00001")
    await http.aclose()
    await publish_tick(redis_client, make_tick(SBIN, 41))
    client = probes()
    await client.connect(gw.url, token)
    assert (await client.wait_event("status"))["upstream"] in ("up", "degraded", "down")
    ack = await client.call("subscribe", {"symbols": [SBIN, INFY], "mode": "quote"})
    assert ack == {"ok": True, "subscribed": [SBIN, INFY], "rejected": []}
    snapshot = await client.wait_event("snapshot")
    assert [t["seq"] for t in snapshot["ticks"]] == [41]
    await publish_tick(redis_client, make_tick(SBIN, 42))
    await client.wait_for(lambda: client.ticks(SBIN), "a live tick")
    assert [t["seq"] for t in client.ticks(SBIN)] == [42]
    assert (await client.call("unsubscribe", {"symbols": [SBIN, INFY]}))["unsubscribed"] == [
        SBIN,
        INFY,
    ]
    too_many = await client.call(
        "subscribe", {"symbols": ["NSE:A-EQ", "NSE:B-EQ", "NSE:C-EQ", "NSE:D-EQ"]}
    )
    assert [r["code"] for r in too_many["rejected"]] == ["too_many_subscriptions"]
    bad = await client.call("subscribe", {"symbols": "NSE:A-EQ"})
    assert bad["code"] == "bad_request" and client.sio.connected


async def test_node_client_flow(
    auth: AuthService, gw: GatewayProcess, redis_client: Any, node_clients: Any
) -> None:
    http, token = await login_async(auth.url, "XA00002")
    await http.aclose()
    await publish_tick(redis_client, make_tick(SBIN, 7))
    client = await node_clients(gw.url, token)
    await client.wait_event("connect")
    await client.wait_event("status")
    ack = await client.call("subscribe", {"symbols": [SBIN], "mode": "quote"})
    assert ack == {"ok": True, "subscribed": [SBIN], "rejected": []}
    snapshot = await client.wait_event("snapshot")
    assert snapshot["ticks"][0]["seq"] == 7
    await publish_tick(redis_client, make_tick(SBIN, 8))
    frame = await client.wait_event("ticks")
    assert [t["seq"] for t in frame] == [8]
    # The ack reached the client before the snapshot, and the snapshot before any tick.
    order = client.names()
    assert order.index("ack") < order.index("snapshot") < order.index("ticks")
    assert (await client.call("unsubscribe", {"symbols": [SBIN]}))["unsubscribed"] == [SBIN]
    bad = await client.call("subscribe", {"symbols": [1, 2]})
    assert bad["ok"] is False and bad["code"] == "bad_request"
    too_many = await client.call(
        "subscribe", {"symbols": ["NSE:A-EQ", "NSE:B-EQ", "NSE:C-EQ", "NSE:D-EQ"]}
    )
    assert [r["code"] for r in too_many["rejected"]] == ["too_many_subscriptions"]
    await publish_tick(redis_client, make_tick(SBIN, 9))
    assert (await client.call("subscribe", {"symbols": []}))["ok"] is True  # still up


def forged(auth_key: TokenMint, real: str) -> dict[str, str | None]:
    """Tokens to refuse, built against the real auth service's key and kid."""
    now = int(time.time())
    claims = {**_claims(real), "iat": now, "exp": now + 600}
    header = {"alg": "ES256", "kid": auth_key.kid, "typ": "JWT"}
    head, _payload, signature = real.split(".")
    altered = {**_claims(real), "scope": "md:read admin", "sub": "ZZ99999"}
    public_pem = auth_key.public_pem()
    return {
        "no token": None,
        "garbage": "not-a-jwt",
        "alg none": f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}."
        f"{_b64(json.dumps(claims).encode())}.",
        "HS256 signed with the public key": auth_key.sign_raw(
            {**header, "alg": "HS256"}, claims, public_pem
        ),
        "foreign key with the real kid": auth_key.sign(
            claims, key=ec.generate_private_key(ec.SECP256R1())
        ),
        "wrong aud": auth_key.sign({**claims, "aud": "not-livews"}),
        "wrong iss": auth_key.sign({**claims, "iss": "not-livews-auth"}),
        "expired": auth_key.sign({**claims, "iat": now - 1000, "exp": now - 100}),
        "altered": f"{head}.{_b64(json.dumps(altered).encode())}.{signature}",
    }


async def test_forged_tokens_are_refused_for_both_clients(
    auth: AuthService, auth_key: TokenMint, gw: GatewayProcess, probes: Any, node_clients: Any
) -> None:
    http, real = await login_async(auth.url, "XA00003")
    await http.aclose()
    # The real key signs what the auth service signs: a control, accepted.
    control = probes()
    await control.connect(gw.url, auth_key.sign({**_claims(real)}))
    assert control.sio.connected
    for why, token in forged(auth_key, real).items():
        error = await probes().refused(gw.url, token)
        assert error["data"] == {"code": "unauthorized"}, (why, error)
        node = await node_clients(gw.url, token)
        refusal = await node.wait_event("connect_error")
        assert refusal["data"] == {"code": "unauthorized"}, (why, refusal)
        assert refusal["message"].startswith("unauthorized"), (why, refusal)


@pytest.mark.timeout(90)
async def test_expiry_disconnects_and_refresh_extends(
    spawn: Any, tmp_path: Path, redis_url: str, emulator: Emulator, auth_key: TokenMint,
    probes: Any, node_clients: Any,
) -> None:  # fmt: skip
    auth = _start_auth(spawn, tmp_path, redis_url, emulator, auth_key, AUTH_ACCESS_TTL="5")
    gw = start_gateway(spawn, tmp_path, redis_url, auth.jwks_url)
    http_a, token_a = await login_async(auth.url, "XA00004")
    http_b, token_b = await login_async(auth.url, "XA00005")
    http_c, token_c = await login_async(auth.url, "XA00006")
    try:
        expiring = probes()
        await expiring.connect(gw.url, token_a)
        node = await node_clients(gw.url, token_a)
        refreshed = probes()
        await refreshed.connect(gw.url, token_b)
        node_refreshed = await node_clients(gw.url, token_c)

        notice = await refreshed.wait_event("auth:expiring", timeout=8)
        assert notice == {"exp": _claims(token_b)["exp"]}
        renewed = await refresh_async(http_b)
        ack = await refreshed.call("auth:refresh", {"token": renewed})
        assert ack == {"ok": True, "exp": _claims(renewed)["exp"]}
        await node_refreshed.wait_event("auth:expiring", timeout=8)
        renewed_c = await refresh_async(http_c)
        ack = await node_refreshed.call("auth:refresh", {"token": renewed_c})
        assert ack == {"ok": True, "exp": _claims(renewed_c)["exp"]}

        for client in (expiring, node):
            bye = await client.wait_event("bye", timeout=10)
            assert bye["code"] == "token_expired" and bye["reconnect"] is False
            await client.wait_event("disconnect")
        assert refreshed.sio.connected and refreshed.of("bye") == []
        assert node_refreshed.of("bye") == [] and node_refreshed.of("disconnect") == []
        # A token from someone else's session is not a refresh of this one.
        _other_http, other = await login_async(auth.url, "XA00099")
        await _other_http.aclose()
        denied = await refreshed.call("auth:refresh", {"token": other})
        assert denied["ok"] is False and denied["code"] == "forbidden"
    finally:
        for http in (http_a, http_b, http_c):
            await http.aclose()


async def test_logout_disconnects_the_session_on_two_replicas(
    spawn: Any, tmp_path: Path, redis_url: str, auth: AuthService, probes: Any, node_clients: Any
) -> None:
    gw1 = start_gateway(spawn, tmp_path, redis_url, auth.jwks_url, name="gw1")
    gw2 = start_gateway(spawn, tmp_path, redis_url, auth.jwks_url, name="gw2")
    http, token = await login_async(auth.url, "XA00006")
    other_http, other = await login_async(auth.url, "XA00007")
    try:
        on1, on2 = probes(), probes()
        await on1.connect(gw1.url, token)
        await on2.connect(gw2.url, token)
        node = await node_clients(gw2.url, token)
        await node.wait_event("connect")
        bystander = probes()
        await bystander.connect(gw1.url, other)

        assert (await http.post("/auth/logout")).status_code < 300
        for client in (on1, on2, node):
            bye = await client.wait_event("bye")
            assert bye["code"] == "session_revoked" and bye["reconnect"] is False
            await client.wait_event("disconnect")
        assert bystander.sio.connected and bystander.of("bye") == []
        # The logged-out session's token is refused from now on, on every replica.
        for gw in (gw1, gw2):
            error = await probes().refused(gw.url, token)
            assert error["data"] == {"code": "unauthorized"}
    finally:
        await http.aclose()
        await other_http.aclose()
