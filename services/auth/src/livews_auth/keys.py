"""Signing keys: the active private key, the retired public keys, and the JWKS built from them.

Keys are PEM. ``AUTH_SIGNING_KEY`` (or ``AUTH_SIGNING_KEY_FILE``) holds the one private key
new tokens are signed with — an EC P-256 key signs ES256, an RSA key (≥ 2048 bits) RS256.
``AUTH_VERIFY_KEYS`` (or ``_FILE``) holds any number of further PEM keys, public or private
(only the public half is used), that are published in the JWKS but never sign: the previous
key during a rotation, or the next one before it becomes active (docs/auth.md, "Rotating the
signing key"). A key's ``kid`` is its RFC 7638 thumbprint, so it is the same on every replica
with no extra configuration. In dev, with no key configured, one is generated once under
``LIVEWS_STATE_DIR``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from livews_common.jwks import KeySet
from livews_common.settings import ConfigError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

DEV_KEY_FILE = "auth-signing-key.pem"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: always a public half, and the private half only for the active key."""

    kid: str
    alg: str
    public: PublicKey
    private: PrivateKey | None = None

    def jwk(self) -> dict[str, Any]:
        """The public JWK, with ``kid``, ``alg`` and ``use``."""
        return {**_public_jwk(self.public), "kid": self.kid, "alg": self.alg, "use": "sig"}


def _public_jwk(public: PublicKey) -> dict[str, Any]:
    if isinstance(public, ec.EllipticCurvePublicKey):
        doc: dict[str, Any] = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        doc = RSAAlgorithm.to_jwk(public, as_dict=True)
    return doc


def thumbprint(public: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (base64url SHA-256 of the required members, sorted)."""
    jwk = _public_jwk(public)
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _alg_of(public: PublicKey, source: str) -> str:
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise ConfigError(f"{source}: EC keys must be on P-256 (ES256)")
        return "ES256"
    if public.key_size < 2048:
        raise ConfigError(f"{source}: RSA keys must have at least 2048 bits")
    return "RS256"


def _key_from_public(public: Any, source: str, private: Any = None) -> SigningKey:
    if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ConfigError(f"{source}: only EC P-256 and RSA keys are supported")
    return SigningKey(thumbprint(public), _alg_of(public, source), public, private)


def _normalise_pem(text: str) -> str:
    # A PEM squeezed into one environment-variable line often arrives with literal "\n".
    if "-----BEGIN" in text and "\n" not in text.strip():
        text = text.replace("\\n", "\n")
    return text


def parse_keys(text: str, source: str) -> list[SigningKey]:
    """Every PEM key in ``text`` (private keys keep their private half)."""
    keys: list[SigningKey] = []
    for match in _PEM_BLOCK.finditer(_normalise_pem(text)):
        block = match.group(0).encode()
        kind = match.group(1)
        try:
            if "PRIVATE" in kind:
                private = serialization.load_pem_private_key(block, password=None)
                keys.append(_key_from_public(private.public_key(), source, private))
            elif "PUBLIC" in kind:
                public = serialization.load_pem_public_key(block)
                keys.append(_key_from_public(public, source))
            else:
                raise ConfigError(f"{source}: a {kind} block is not a key")
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"{source}: cannot read a PEM key ({type(exc).__name__})") from None
    return keys


def generate_private_key_pem() -> bytes:
    """A new EC P-256 (ES256) private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: SigningKey) -> bytes:
    return key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class KeyRing:
    """The active signing key and the keys that are only published for verification."""

    def __init__(self, active: SigningKey, published: Sequence[SigningKey] = ()) -> None:
        if active.private is None:
            raise ConfigError("the active signing key must be a private key")
        self.active = active
        seen = {active.kid}
        self.published: list[SigningKey] = []
        for key in published:
            if key.kid not in seen:
                seen.add(key.kid)
                self.published.append(SigningKey(key.kid, key.alg, key.public))
        self._jwks = {"keys": [self.active.jwk(), *(k.jwk() for k in self.published)]}

    @property
    def kids(self) -> list[str]:
        return [self.active.kid, *(k.kid for k in self.published)]

    def jwks(self) -> dict[str, Any]:
        """The JWKS document: the active key first, then every other published key."""
        return {"keys": [dict(k) for k in self._jwks["keys"]]}

    def key_set(self) -> KeySet:
        """The shared verifier's view of these keys (what a gateway would build)."""
        return KeySet.from_jwks(self.jwks())


def _dev_key(state_dir: Path) -> str:
    path = state_dir / DEV_KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two dev replicas starting together agree on one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(generate_private_key_pem())
    text = path.read_text()
    if "-----END" not in text:
        raise ConfigError(f"{path} is incomplete; delete it to have a new dev key generated")
    return text


def load_keyring(
    signing_key: str | None, verify_keys: str | None, *, prod: bool, state_dir: Path
) -> KeyRing:
    """The key ring from configuration (see the module docstring)."""
    if signing_key:
        source = "AUTH_SIGNING_KEY"
    elif prod:
        raise ConfigError(
            "AUTH_SIGNING_KEY is missing; set AUTH_SIGNING_KEY or AUTH_SIGNING_KEY_FILE to a PEM "
            "private key (livews-auth --generate-key prints one)"
        )
    else:
        signing_key, source = _dev_key(state_dir), str(state_dir / DEV_KEY_FILE)
    active = parse_keys(signing_key, source)
    if len(active) != 1 or active[0].private is None:
        raise ConfigError(f"{source} must hold exactly one PEM private key")
    published: Iterable[SigningKey] = (
        parse_keys(verify_keys, "AUTH_VERIFY_KEYS") if verify_keys else ()
    )
    return KeyRing(active[0], list(published))
