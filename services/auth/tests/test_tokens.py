"""Every forged or stale access token is refused, by /auth/me and by the shared verifier."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from auth_harness import b64, claims, dev_signing_key, jwt_parts, wait_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from livews_common.jwks import KeySet, TokenError
from livews_devtools.fleet_auth import AuthService, signed_in, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def forged_tokens(auth: AuthService, real: str, state_dir: Path) -> dict[str, tuple[str, str]]:
    """name → (token, the verifier's reason)."""
    key = dev_signing_key(state_dir)
    header, payload = jwt_parts(real)
    kid = header["kid"]
    good = {**claims(), "sid": payload["sid"], "sub": payload["sub"]}

    def signed(**over: Any) -> str:
        return jwt.encode({**good, **over}, key, algorithm="ES256", headers={"kid": kid})

    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = _unsigned({"alg": "HS256", "kid": kid, "typ": "JWT"}, good)
    hs_sig = b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
    other_key = ec.generate_private_key(ec.SECP256R1())
    head, _, sig = real.split(".")
    altered = {**payload, "sub": "ZZ99999"}
    return {
        "alg none": (_unsigned({"alg": "none", "kid": kid}, good) + ".", "bad_algorithm"),
        "HS256 with the public key": (f"{hs_input}.{hs_sig}", "bad_algorithm"),
        "wrong aud": (signed(aud="someone-else"), "bad_audience"),
        "wrong iss": (signed(iss="evil-auth"), "bad_issuer"),
        # past exp by more than the default 30 s leeway (LIVEWS_JWT_LEEWAY)
        "past exp": (signed(iat=int(time.time()) - 600, exp=int(time.time()) - 45), "expired"),
        "issued in the future": (signed(iat=int(time.time()) + 90), "not_yet_valid"),
        "not valid yet": (signed(nbf=int(time.time()) + 90), "not_yet_valid"),
        "unknown kid": (
            jwt.encode(good, other_key, algorithm="ES256", headers={"kid": "not-ours"}),
            "unknown_kid",
        ),
        "our kid, another key": (
            jwt.encode(good, other_key, algorithm="ES256", headers={"kid": kid}),
            "bad_signature",
        ),
        "altered payload": (f"{head}.{b64(json.dumps(altered).encode())}.{sig}", "bad_signature"),
        "not a JWT": ("garbage", "malformed"),
    }


def test_forged_and_stale_tokens_are_refused(auth_service: AuthService, tmp_path: Path) -> None:
    with signed_in(auth_service.url) as (client, real):
        keys = KeySet.from_jwks(httpx.get(auth_service.jwks_url).json())
        assert keys.verify(real).sub == "XY12345"
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {real}"})
        assert me.status_code == 200
        cases = forged_tokens(auth_service, real, tmp_path / "auth-state")
        # a token made with the real key and right claims is accepted: the forgeries differ
        # from it only in what each case names
        header, payload = jwt_parts(real)
        key = dev_signing_key(tmp_path / "auth-state")
        control = jwt.encode(
            {**claims(), "sid": payload["sid"]}, key, algorithm="ES256",
            headers={"kid": header["kid"]},
        )  # fmt: skip
        assert client.get("/auth/me", headers={"Authorization": f"Bearer {control}"}).is_success
        # clock skew within the leeway is forgiven: a few seconds past exp, or issued "later"
        now = int(time.time())
        for skewed in ({"iat": now - 600, "exp": now - 5}, {"iat": now + 5, "nbf": now + 5}):
            token = jwt.encode(
                {**claims(), "sid": payload["sid"], **skewed}, key, algorithm="ES256",
                headers={"kid": header["kid"]},
            )  # fmt: skip
            assert keys.verify(token, now=time.time(), leeway=30).sub == "XY12345"
            me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, (skewed, me.text)
        for name, (token, reason) in cases.items():
            with pytest.raises(TokenError) as refused:
                keys.verify(token, now=time.time(), leeway=30)
            assert refused.value.reason == reason, name
            response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, name
            assert response.json()["error"] == "unauthorized", name
            assert reason in response.json()["message"], name
        for bad in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"}):
            response = client.get("/auth/me", headers=bad)
            assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_an_access_token_expires_on_time(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(
        spawn, tmp_path, redis_url, emulator, AUTH_ACCESS_TTL="2", LIVEWS_JWT_LEEWAY="3"
    )
    with signed_in(auth.url) as (client, token):
        _, payload = jwt_parts(token)
        assert isinstance(payload["iat"], int) and isinstance(payload["exp"], int)
        assert payload["exp"] - payload["iat"] == 2
        assert client.post("/auth/token").json()["expires_in"] == 2

        def refused() -> bool:
            me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            if me.status_code == 200:
                accepted.append(time.time())
            return me.status_code == 401 and "expired" in me.json()["message"]

        accepted: list[float] = []
        wait_for(refused, timeout=15, what="the access token to expire")
        # refused only once exp plus the 3 s leeway passed; accepted a moment past exp
        assert time.time() >= payload["exp"] + 3
        assert max(accepted) >= payload["exp"], "not accepted within the leeway"
