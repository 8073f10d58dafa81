"""The shared verifier refuses every token CONTRACT §2 says must be refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from livews_common.claims import AUDIENCE, ISSUER
from livews_common.jwks import KeySet, TokenError


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**doc, "kid": kid, "alg": "ES256", "use": "sig"}


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    doc = {"iss": ISSUER, "aud": AUDIENCE, "sub": "XY12345", "sid": "s1", "scope": "md:read",
           "iat": now, "exp": now + 60, "jti": "j1"}  # fmt: skip
    doc.update(over)
    return doc


KEY = new_key()
KEYS = KeySet.from_jwks({"keys": [jwk_of(KEY, "k1")]})


def sign(payload: dict[str, Any], key: Any = KEY, kid: str = "k1", alg: str = "ES256") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def test_good_token_verifies() -> None:
    assert KEYS.verify(sign(claims())).sub == "XY12345"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    with pytest.raises(TokenError) as err:
        KEYS.verify(token)
    assert err.value.reason == "bad_algorithm"


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    sig = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError) as err:
        KEYS.verify(f"{header}.{body}.{b64(sig)}")
    assert err.value.reason == "bad_algorithm"


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: sign(claims(), key=new_key()), "bad_signature"),  # foreign key, real kid
        (lambda: sign(claims(), kid="k9"), "unknown_kid"),
        (lambda: sign(claims(aud="other")), "bad_audience"),
        (lambda: sign(claims(iss="someone")), "bad_issuer"),
        (lambda: sign(claims(exp=int(time.time()) - 5)), "expired"),
        (lambda: sign(claims(iat="yesterday")), "invalid"),
        (lambda: "not-a-jwt", "malformed"),
    ],
)
def test_bad_tokens_are_refused(token_factory: Any, reason: str) -> None:
    with pytest.raises(TokenError) as err:
        KEYS.verify(token_factory())
    assert err.value.reason == reason


def test_altered_payload_is_refused() -> None:
    header, _body, sig = sign(claims()).split(".")
    forged = b64(json.dumps(claims(sub="ADMIN")).encode())
    with pytest.raises(TokenError) as err:
        KEYS.verify(f"{header}.{forged}.{sig}")
    assert err.value.reason == "bad_signature"


def test_jwks_skips_private_keys_and_foreign_algorithms() -> None:
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY))
    keys = KeySet.from_jwks({"keys": [
        {**private, "kid": "leaked", "alg": "ES256"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
        jwk_of(KEY, "ok"),
    ]})  # fmt: skip
    assert "ok" in keys and "leaked" not in keys and "hmac" not in keys
