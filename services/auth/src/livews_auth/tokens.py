"""Access JWTs: minted with the active key, checked with the same verifier the gateways use."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from livews_auth.keys import KeyRing
from livews_common.claims import (
    AUDIENCE,
    DEFAULT_LEEWAY,
    ISSUER,
    SCOPE_MARKET_DATA,
    AccessClaims,
)
from livews_common.jwks import KeySet


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    jti: str


class TokenIssuer:
    """Signs access tokens (CONTRACT §2 claims) and verifies them through the JWKS view."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        ttl: int,
        leeway: int = DEFAULT_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._ttl = ttl
        self._leeway = leeway
        self._clock = clock
        # Exactly what a gateway builds from our JWKS: one verifier, one behaviour.
        self._verifier: KeySet = keys.key_set()

    @property
    def ttl(self) -> int:
        return self._ttl

    def issue(
        self,
        *,
        sub: str,
        sid: str,
        name: str | None = None,
        not_after: int | None = None,
        scope: str = SCOPE_MARKET_DATA,
        ttl: int | None = None,
    ) -> IssuedToken:
        """A signed token; ``not_after`` (epoch s, the session's end) caps its ``exp``.

        ``ttl`` replaces the issuer's lifetime (service tokens have their own).
        """
        now = int(self._clock())
        ttl = self._ttl if ttl is None else ttl
        ttl = ttl if not_after is None else max(1, min(ttl, not_after - now))
        jti = uuid.uuid4().hex
        claims: dict[str, object] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "sid": sid,
            "scope": scope,
            "iat": now,
            "exp": now + ttl,
            "jti": jti,
        }
        if name:
            claims["name"] = name
        key = self._keys.active
        assert key.private is not None  # KeyRing refuses an active key without one
        token = jwt.encode(
            claims, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
        )
        return IssuedToken(token, ttl, jti)

    def verify(self, token: str) -> AccessClaims:
        """Claims of a valid token; :class:`livews_common.jwks.TokenError` otherwise."""
        return self._verifier.verify(token, now=self._clock(), leeway=self._leeway)
