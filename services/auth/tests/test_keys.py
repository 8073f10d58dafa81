"""Signing keys: parsing, kids, the JWKS, dev persistence, and rotation without logouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from livews_auth.keys import (
    DEV_KEY_FILE,
    KeyRing,
    generate_private_key_pem,
    load_keyring,
    parse_keys,
    public_pem,
    thumbprint,
)
from livews_auth.tokens import TokenIssuer
from livews_common.jwks import TokenError
from livews_common.settings import ConfigError


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The example of RFC 7638 §3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
    }
    public = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(public, rsa.RSAPublicKey)
    assert thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_and_rsa_keys_sign_with_their_algorithm() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for key, alg in ((ec.generate_private_key(ec.SECP256R1()), "ES256"), (rsa_key, "RS256")):
        (parsed,) = parse_keys(pem(key), "test")
        ring = KeyRing(parsed)
        assert ring.jwks()["keys"][0]["alg"] == alg
        assert "d" not in ring.jwks()["keys"][0], "never publish the private part"
        issuer = TokenIssuer(ring, ttl=60)
        token = issuer.issue(sub="XY12345", sid="s1", name="Asha")
        assert issuer.verify(token.token).name == "Asha"


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        pem(ec.generate_private_key(ec.SECP384R1())),
        pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    ],
)
def test_unusable_keys_stop_the_start(text: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AUTH_SIGNING_KEY"):
        load_keyring(text, None, prod=True, state_dir=tmp_path)


def test_a_public_key_cannot_sign(tmp_path: Path) -> None:
    (key,) = parse_keys(generate_private_key_pem().decode(), "x")
    with pytest.raises(ConfigError, match="private key"):
        load_keyring(public_pem(key).decode(), None, prod=True, state_dir=tmp_path)


def test_pem_with_literal_newlines_from_an_env_file(tmp_path: Path) -> None:
    text = generate_private_key_pem().decode().strip().replace("\n", "\\n")
    ring = load_keyring(text, None, prod=True, state_dir=tmp_path)
    assert ring.active.private is not None


def test_prod_without_a_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AUTH_SIGNING_KEY"):
        load_keyring(None, None, prod=True, state_dir=tmp_path)
    assert not (tmp_path / DEV_KEY_FILE).exists()


def test_dev_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_keyring(None, None, prod=False, state_dir=tmp_path / "state")
    second = load_keyring(None, None, prod=False, state_dir=tmp_path / "state")
    assert first.active.kid == second.active.kid
    assert (tmp_path / "state" / DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped(tmp_path: Path) -> None:
    old_pem, new_pem = generate_private_key_pem().decode(), generate_private_key_pem().decode()
    before = load_keyring(old_pem, None, prod=True, state_dir=tmp_path)
    old_token = TokenIssuer(before, ttl=300).issue(sub="XY12345", sid="s1").token

    # step 1: publish the next key before it signs anything
    staged = load_keyring(old_pem, new_pem, prod=True, state_dir=tmp_path)
    assert staged.kids == [before.active.kid, thumbprint(staged.published[0].public)]
    # step 2: the new key signs; the old one is still published
    rotated = load_keyring(new_pem, old_pem, prod=True, state_dir=tmp_path)
    issuer = TokenIssuer(rotated, ttl=300)
    assert issuer.verify(old_token).sub == "XY12345"
    assert issuer.issue(sub="XY12345", sid="s1").token != old_token
    assert {k["kid"] for k in rotated.jwks()["keys"]} == set(staged.kids)
    # step 3: once every old token has expired, the old key goes
    retired = TokenIssuer(load_keyring(new_pem, None, prod=True, state_dir=tmp_path), ttl=300)
    with pytest.raises(TokenError) as refused:
        retired.verify(old_token)
    assert refused.value.reason == "unknown_kid"
