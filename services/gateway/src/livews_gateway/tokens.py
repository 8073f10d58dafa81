"""Access tokens at the gateway: verified against the auth service's JWKS, never signed here."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import httpx

from livews_common.claims import DEFAULT_LEEWAY, SCOPE_MARKET_DATA, AccessClaims
from livews_common.codes import ErrorCode
from livews_common.jwks import JwksVerifier, TokenError
from livews_gateway.errors import AuthRefused
from livews_gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class TokenVerifier(Protocol):
    """Checks signature, algorithm, issuer, audience and expiry of an access JWT."""

    @property
    def ready(self) -> bool:
        """True once signing keys are loaded."""

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims, or :class:`~livews_common.jwks.TokenError` saying why not."""


class JwksTokenVerifier:
    """:class:`~livews_common.jwks.JwksVerifier` plus a loader that retries until keys come."""

    def __init__(
        self, jwks_url: str, client: httpx.AsyncClient, *, leeway: int = DEFAULT_LEEWAY
    ) -> None:
        self._verifier = JwksVerifier(
            jwks_url, client=client, min_refetch_interval=5.0, leeway=leeway
        )

    @property
    def ready(self) -> bool:
        return len(self._verifier.keys) > 0

    async def verify(self, token: str) -> AccessClaims:
        return await self._verifier.verify(token)

    async def load(self) -> None:
        """Fetch the JWKS at start, retrying (with backoff) until it answers."""
        delay = 0.2
        while not self.ready:
            if await self._verifier.refresh(force=True):
                log.info("signing keys loaded", extra={"keys": len(self._verifier.keys)})
                return
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)


class RevokedSessions:
    """Sessions revoked by the auth service, as this process heard about them.

    Fed by the ``auth:revoked`` channel; each entry is kept for ``keep`` seconds (longer
    than any access token lives), so a token of a revoked session is refused even while
    Redis is unreachable.
    """

    def __init__(self, keep: float = 3600.0, limit: int = 100_000) -> None:
        self._keep = keep
        self._limit = limit
        self._until: dict[str, float] = {}

    def add(self, session: str) -> None:
        now = time.monotonic()
        if len(self._until) >= self._limit:
            self._until = {s: t for s, t in self._until.items() if t > now}
            if len(self._until) >= self._limit:
                self._until.pop(next(iter(self._until)))
        self._until[session] = now + self._keep

    def __contains__(self, session: object) -> bool:
        until = self._until.get(session) if isinstance(session, str) else None
        return until is not None and until > time.monotonic()


class Authenticator:
    """Turns a presented token into claims, or into an :class:`AuthRefused` with a reason."""

    def __init__(self, verifier: TokenVerifier, store: Store, revoked: RevokedSessions) -> None:
        self._verifier = verifier
        self._store = store
        self._revoked = revoked

    async def check(self, token: object) -> AccessClaims:
        if not isinstance(token, str) or not token:
            raise AuthRefused("missing", "unauthorized: no token in auth")
        try:
            claims = await self._verifier.verify(token)
        except TokenError as exc:
            raise AuthRefused(exc.reason, f"unauthorized: {exc.reason}") from None
        if not claims.has_scope(SCOPE_MARKET_DATA):
            raise AuthRefused(
                "scope", f"forbidden: token lacks {SCOPE_MARKET_DATA}", ErrorCode.FORBIDDEN
            )
        if claims.sid in self._revoked or await self._revoked_in_store(claims.sid):
            raise AuthRefused("revoked", "unauthorized: session revoked")
        return claims

    async def _revoked_in_store(self, session: str) -> bool:
        try:
            return await self._store.is_revoked(session)
        except StoreUnavailable:
            # Availability first: the token is otherwise valid and expires within minutes;
            # revocations heard on the channel are still enforced (RevokedSessions).
            log.warning("cannot check revocation; redis unavailable")
            return False
