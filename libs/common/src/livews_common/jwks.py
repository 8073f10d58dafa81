"""Verify access JWTs against a JWKS — the only way gateways (and auth's /me) check tokens.

Clock skew between auth and a verifier is forgiven up to a small leeway (``DEFAULT_LEEWAY``,
``LIVEWS_JWT_LEEWAY``) on ``exp``, ``iat`` and ``nbf``.

:class:`KeySet` holds public keys by ``kid``. :class:`JwksVerifier` fetches a JWKS over
HTTP, caches it, refetches on an unknown ``kid`` (at most once per ``min_refetch_interval``),
and keeps using the keys it has when the endpoint is down, so existing sessions survive a
JWKS outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt
from pydantic import ValidationError

from livews_common.claims import (
    ALLOWED_ALGORITHMS,
    AUDIENCE,
    DEFAULT_LEEWAY,
    ISSUER,
    AccessClaims,
)

log = logging.getLogger(__name__)

_KTY_FOR_ALG = {"RS256": "RSA", "ES256": "EC"}


class TokenError(Exception):
    """A token that must be refused; ``reason`` is a short stable word for metrics/logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class KeySet:
    """Public verification keys by ``kid`` (built from a JWKS document)."""

    def __init__(self, keys: dict[str, jwt.PyJWK] | None = None) -> None:
        self._keys = dict(keys or {})

    @classmethod
    def from_jwks(cls, doc: Any) -> KeySet:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ValueError("JWKS document must be an object with a 'keys' list")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in doc["keys"]:
            if not isinstance(entry, dict):
                continue
            kid, alg, kty = entry.get("kid"), entry.get("alg"), entry.get("kty")
            if not isinstance(kid, str) or alg not in ALLOWED_ALGORITHMS:
                continue  # a key we would never accept a token from
            if _KTY_FOR_ALG[alg] != kty or "d" in entry:
                continue  # wrong key type for its alg, or a private key published by mistake
            try:
                keys[kid] = jwt.PyJWK(entry, algorithm=alg)
            except jwt.PyJWTError as exc:
                log.warning("skipping unusable JWKS key", extra={"kid": kid, "error": str(exc)})
        return cls(keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, token: str, *, now: float | None = None, leeway: int = 0) -> AccessClaims:
        """Claims of ``token`` when signature, algorithm, issuer, audience and expiry check out.

        ``leeway`` seconds of clock skew are forgiven on ``exp``, ``iat`` and ``nbf``: a token
        is accepted until ``exp + leeway`` and refused when issued (``iat``) or valid from
        (``nbf``) more than ``leeway`` seconds after ``now``.
        """
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError("bad_algorithm", f"alg {alg!r} is not accepted")
        if not isinstance(kid, str) or kid not in self._keys:
            raise TokenError("unknown_kid", f"no key with kid {kid!r}")
        key = self._keys[kid]
        if key.algorithm_name != alg:
            raise TokenError("bad_algorithm", f"key {kid} is not an {alg} key")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "sid", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired", "token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("not_yet_valid", "token issued in the future") from None
        except jwt.InvalidAudienceError:
            raise TokenError("bad_audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("bad_issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature") from None
        except jwt.PyJWTError as exc:
            raise TokenError("invalid", str(exc)) from None
        try:
            claims = AccessClaims.model_validate(payload)
        except ValidationError as exc:
            raise TokenError("bad_claims", str(exc.errors()[0]["loc"])) from None
        if now is not None:
            _check_times(claims, payload.get("nbf"), now, leeway)
        return claims


def _check_times(claims: AccessClaims, nbf: object, now: float, leeway: int) -> None:
    """``exp``, ``iat`` and ``nbf`` against ``now`` (the caller's clock), with ``leeway``."""
    if claims.exp <= now - leeway:
        raise TokenError("expired", "token has expired")
    if claims.iat > now + leeway:
        raise TokenError("not_yet_valid", "token issued in the future")
    if isinstance(nbf, int | float) and nbf > now + leeway:
        raise TokenError("not_yet_valid", "token not valid yet")


def _header(token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > 8192:
        raise TokenError("malformed", "token must be a non-empty string")
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("malformed", "not a JWT") from None


class JwksVerifier:
    """Verifies tokens with keys fetched from ``jwks_url``; safe to share across tasks."""

    def __init__(
        self,
        jwks_url: str,
        *,
        client: httpx.AsyncClient,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 10.0,
        leeway: int = DEFAULT_LEEWAY,
    ) -> None:
        self._url = jwks_url
        self._client = client
        self._cache_ttl = cache_ttl
        self._min_refetch = min_refetch_interval
        self._leeway = leeway
        self._keys = KeySet()
        self._fetched_at = float("-inf")  # monotonic time of the last successful fetch
        self._tried_at = float("-inf")  # monotonic time of the last attempt
        self._lock = asyncio.Lock()

    @property
    def keys(self) -> KeySet:
        return self._keys

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS (rate limited unless ``force``); True when new keys were loaded."""
        async with self._lock:
            now = time.monotonic()
            if not force and now - self._tried_at < self._min_refetch:
                return False
            self._tried_at = now
            try:
                response = await self._client.get(self._url, timeout=5.0)
                response.raise_for_status()
                keys = KeySet.from_jwks(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.warning(
                    "JWKS fetch failed; keeping %d cached keys",
                    len(self._keys),
                    extra={"url": self._url, "error": type(exc).__name__},
                )
                return False
            self._keys = keys
            self._fetched_at = now
            return True

    async def verify(self, token: str) -> AccessClaims:
        """Claims of ``token``, or :class:`TokenError` saying why it is refused."""
        if time.monotonic() - self._fetched_at > self._cache_ttl:
            await self.refresh()
        kid = _header(token).get("kid")
        if isinstance(kid, str) and kid not in self._keys:
            await self.refresh()
            if not len(self._keys):
                raise TokenError("jwks_unavailable", "no signing keys could be fetched")
        return self._keys.verify(token, now=time.time(), leeway=self._leeway)
