"""Where the upstream access token comes from, and how its expiry is reported.

Contract of :class:`TokenSource`:

- ``current()`` returns the credential to connect with, or raises :class:`NoToken` whose
  ``reason`` says exactly why there is none (shown in ``md:status`` and ``/readyz``).
- ``changed`` is set whenever a different credential may be available; the supervisor
  clears it before reading ``current()``.
- ``report_expired(credential, why)`` marks that credential unusable (``current()`` will not
  return it again) and, for the auth-kept token, asks the auth service to renew it now on
  ``auth:feed:renew``.
- ``report_refused(credential, why)``: the upstream refused it without saying "expired" (which
  may pass): for the auth-kept token, renewal is asked for too, but the token stays usable.

``EnvTokenSource`` serves ``FYERS_ACCESS_TOKEN``; ``RedisTokenSource`` decrypts the
:class:`~livews_common.feedtoken.FeedToken` auth keeps at ``auth:feed:token`` and watches
the channel of the same name. A message on that channel is only a hint (anyone who can
publish can send one): ``RedisTokenSource.watch()`` sets ``changed`` only when the stored
token really differs from the one last read, reading at most once per
``NOTICE_MIN_INTERVAL``, so a flood of notices neither reconnects the upstream nor cuts a
reconnect backoff short.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from livews_common import names
from livews_common.feedtoken import TokenCipher
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)

_UNKNOWN = object()  # _peek(): the stored token could not be read

#: How often to repeat a renewal request while auth has not delivered a new token.
RENEW_REPEAT_SECONDS = 30.0
#: At most one read of the stored token per this many seconds, however many notices arrive.
NOTICE_MIN_INTERVAL = 0.2
NO_TOKEN = "no feed token: sign in once through the dashboard / set FYERS_ACCESS_TOKEN"


class NoToken(Exception):
    """There is no usable upstream token; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Credential:
    """An upstream access token (``APPID:TOKEN``) and where it came from."""

    access_token: str
    origin: str  # "FYERS_ACCESS_TOKEN" or "auth"
    expires_at: int | None = None  # epoch seconds, when known

    @property
    def fingerprint(self) -> str:
        """A short, non-secret name for logs."""
        return hashlib.sha256(self.access_token.encode()).hexdigest()[:10]

    @property
    def bare_token(self) -> str:
        """The token without its ``APPID:`` prefix (what the symbol-token REST call sends)."""
        return self.access_token.split(":", 1)[1] if ":" in self.access_token else self.access_token

    def __repr__(self) -> str:
        return f"Credential(origin={self.origin!r}, fingerprint={self.fingerprint!r})"


class TokenSource(Protocol):
    """Supplies the upstream credential (see the module docstring for the contract)."""

    changed: asyncio.Event

    async def current(self) -> Credential: ...

    async def report_expired(self, credential: Credential, why: str) -> None: ...

    async def report_refused(self, credential: Credential, why: str) -> None: ...


class EnvTokenSource:
    """A fixed ``FYERS_ACCESS_TOKEN``; once the upstream says it expired, nothing else."""

    def __init__(self, access_token: str) -> None:
        self._credential = Credential(access_token, "FYERS_ACCESS_TOKEN")
        self._expired: str | None = None
        self.changed = asyncio.Event()

    async def current(self) -> Credential:
        if self._expired is not None:
            raise NoToken(
                f"FYERS_ACCESS_TOKEN is no longer accepted ({self._expired}): set a fresh "
                "one and restart, or unset it to use the token the auth service keeps"
            )
        return self._credential

    async def report_expired(self, credential: Credential, why: str) -> None:
        self._expired = why

    async def report_refused(self, credential: Credential, why: str) -> None:
        """Nothing to ask for: the supervisor retries with backoff."""


class RedisTokenSource:
    """The feed token auth keeps in Redis, sealed with the shared token key."""

    def __init__(
        self, redis: aioredis.Redis, cipher: TokenCipher, metrics: Metrics, *, instance: str
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._metrics = metrics
        self._instance = instance
        self._unusable: set[str] = set()  # access tokens the upstream refused
        self._renew_asked: dict[str, float] = {}  # access token → monotonic time asked
        self._seen: str | None = None  # the access token current() last read (None: none)
        self._notice = asyncio.Event()
        self.changed = asyncio.Event()
        #: When the feed account's refresh token lapses (epoch s), as auth last published it.
        self.refresh_expires_at: int | None = None

    def notify(self, _data: bytes = b"") -> None:
        """``auth:feed:token`` said the token changed (or we resubscribed): look, in ``watch``."""
        self._notice.set()

    async def watch(self) -> None:
        """Turn notices into ``changed`` only when the stored token differs (until cancelled)."""
        while True:
            await self._notice.wait()
            self._notice.clear()
            stored = await self._peek()
            if stored is _UNKNOWN or stored != self._seen:
                self.changed.set()  # a new token — or we cannot tell: let the supervisor look
            else:
                self._metrics.token_notices_ignored.inc()
            await asyncio.sleep(NOTICE_MIN_INTERVAL)

    async def _peek(self) -> object:
        """The stored access token, None when there is none, ``_UNKNOWN`` when unreadable."""
        try:
            sealed = await self._redis.get(names.FEED_TOKEN)
        except TRANSIENT:
            return _UNKNOWN
        if sealed is None:
            return None
        try:
            feed = self._cipher.open(sealed.encode() if isinstance(sealed, str) else sealed)
        except ValueError:
            return _UNKNOWN
        return feed.access_token

    async def current(self) -> Credential:
        try:
            sealed = await self._redis.get(names.FEED_TOKEN)
        except TRANSIENT as exc:
            raise NoToken(f"cannot read the feed token: Redis unreachable ({exc})") from None
        if sealed is None:
            self._seen = None
            raise NoToken(NO_TOKEN)
        if isinstance(sealed, str):
            sealed = sealed.encode()
        try:
            feed = self._cipher.open(sealed)
        except ValueError as exc:
            raise NoToken(
                f"the feed token in Redis cannot be read ({exc}): auth and marketdata need "
                "the same LIVEWS_TOKEN_KEY (or the same LIVEWS_STATE_DIR in dev)"
            ) from None
        self._seen = feed.access_token
        self.refresh_expires_at = feed.refresh_expires_at or None
        if ":" not in feed.access_token:
            raise NoToken("the feed token in Redis is not APPID:TOKEN; sign in again")
        credential = Credential(feed.access_token, "auth", feed.expires_at)
        if feed.access_token in self._unusable:
            await self.report_expired(credential, "token still expired")  # re-asks now and then
            raise NoToken(
                "feed token expired; asked the auth service to renew it (sign in again "
                "through the dashboard if this persists)"
            )
        if feed.expires_at and feed.expires_at <= time.time():
            await self.report_expired(credential, f"token expired at {feed.expires_at}")
            raise NoToken("feed token expired; asked the auth service to renew it")
        return credential

    async def report_expired(self, credential: Credential, why: str) -> None:
        self._unusable.add(credential.access_token)
        await self._ask_renewal(credential, why)

    async def report_refused(self, credential: Credential, why: str) -> None:
        await self._ask_renewal(credential, why)

    async def _ask_renewal(self, credential: Credential, why: str) -> None:
        asked = self._renew_asked.get(credential.access_token)
        if asked is not None and time.monotonic() - asked < RENEW_REPEAT_SECONDS:
            return
        reason = f"{why} (marketdata {self._instance})"
        try:
            await self._redis.publish(names.FEED_TOKEN_RENEW, reason)
        except TRANSIENT as exc:
            log.warning("could not ask auth to renew the feed token", extra={"error": str(exc)})
            return
        self._renew_asked[credential.access_token] = time.monotonic()
        self._metrics.token_renew_requests.inc()
        log.warning(
            "asked the auth service to renew the feed token",
            extra={"why": why, "credential": credential.fingerprint},
        )
