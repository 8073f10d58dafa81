"""Pending logins: the one-time OAuth ``state``, bound to the browser that started it.

``/auth/login`` stores ``auth:login:<sha256(state)>`` with a short TTL, holding the hash of a
random browser nonce that it also sets as the ``livews_login`` cookie. ``/auth/callback``
takes the record with GETDEL — so a state works once, whatever happens next — and accepts
it only when the same browser presents the matching nonce. A state in the URL without the
cookie (a link planted in another browser: login CSRF) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import msgspec
import redis.asyncio as aioredis

from livews_auth import keyspace
from livews_auth.errors import BadRequest, InvalidState

MAX_NEXT_LENGTH = 2048
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_STATE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
# Browsers drop tabs and newlines from URLs and treat "\" like "/": "/\t/x" is "//x".
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


class LoginState(msgspec.Struct, kw_only=True):
    browser: str  # sha256 hex of the browser nonce
    next: str
    redirect_uri: str
    created: int  # epoch ms


def safe_next(value: str | None) -> str:
    """``value`` when it is a same-site relative path (``/x``); BadRequest otherwise."""
    if value is None or value == "":
        return "/"
    if (
        len(value) > MAX_NEXT_LENGTH
        or not value.startswith("/")
        or value.startswith("//")
        or _UNSAFE_IN_NEXT.search(value)
    ):
        raise BadRequest("next must be a same-site path starting with a single '/'")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise BadRequest("next must be a same-site path starting with a single '/'")
    return value


def valid_nonce(value: str | None) -> str | None:
    return value if value is not None and _NONCE.match(value) else None


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class LoginStore:
    """Begins and completes logins; the caller owns ``redis``."""

    def __init__(
        self, redis: aioredis.Redis, *, ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._ttl = ttl
        self._clock = clock
        self._decoder = msgspec.json.Decoder(LoginState)

    @property
    def ttl(self) -> int:
        return self._ttl

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    async def begin(self, nonce: str, next_path: str, redirect_uri: str) -> str:
        """A new one-time state for the browser holding ``nonce``."""
        state = secrets.token_urlsafe(32)
        record = LoginState(
            browser=_sha(nonce),
            next=next_path,
            redirect_uri=redirect_uri,
            created=int(self._clock() * 1000),
        )
        await self._redis.set(
            keyspace.login_key(_sha(state)), msgspec.json.encode(record), ex=self._ttl
        )
        return state

    async def finish(self, state: str | None, nonce: str | None) -> LoginState:
        """The login ``state`` began, consumed; InvalidState when it cannot be trusted."""
        if not state:
            raise InvalidState("state is missing; start again at /auth/login")
        if not _STATE.match(state):
            raise InvalidState("state is malformed; start again at /auth/login")
        raw = await self._redis.getdel(keyspace.login_key(_sha(state)))
        if raw is None:
            raise InvalidState("state is unknown, expired or already used; start again")
        try:
            record = self._decoder.decode(raw)
        except msgspec.MsgspecError:
            raise InvalidState("state record is unreadable; start again") from None
        if nonce is None or not hmac.compare_digest(record.browser, _sha(nonce)):
            raise InvalidState("this login was started in another browser; start again here")
        return record
