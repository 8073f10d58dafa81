"""Users who signed in, and the feed account's Fyers tokens — sealed, never in clear.

``auth:user:<fy_id>`` is a hash: ``name``, ``seen`` (epoch ms of the last sign-in) and, for
the feed account only, ``fyers`` — its Fyers access and refresh tokens as one Fernet
ciphertext made with the same key (``LIVEWS_TOKEN_KEY``) that seals the feed token. Other
users' Fyers tokens are dropped once their profile is read (data minimisation); a ``fyers``
field left by an older release is deleted at their next sign-in and never read. The record
lives as long as a Fyers refresh token does; signing in again renews it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from livews_auth import keyspace
from livews_common.feedtoken import TokenCipher

#: Fyers refresh tokens live about 15 days; keep the record one day longer.
USER_TTL = 16 * 86_400


class FyersCredentials(msgspec.Struct, kw_only=True):
    """A user's Fyers tokens as auth keeps them (inside the sealed ``fyers`` field)."""

    access_token: str  # bare token, without the APPID: prefix
    refresh_token: str
    expires_at: int  # epoch seconds: the access token's own exp
    updated_at: int  # epoch ms
    #: epoch ms of the sign-in that issued ``refresh_token`` (Fyers: valid ~15 days); 0 = unknown
    refresh_issued_at: int = 0


@dataclass(frozen=True, slots=True)
class User:
    fy_id: str
    name: str


class UserStore:
    """Reads and writes user records; the caller owns ``redis``."""

    def __init__(
        self, redis: aioredis.Redis, cipher: TokenCipher, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._clock = clock

    async def record(self, user: User, credentials: FyersCredentials | None) -> None:
        """Record a sign-in; ``credentials`` only for the feed account (None drops any kept)."""
        key = keyspace.user_key(user.fy_id)
        fields: dict[str, bytes | str | int] = {
            "name": user.name, "seen": int(self._clock() * 1000)
        }  # fmt: skip
        if credentials is not None:
            fields["fyers"] = self._cipher.encrypt(msgspec.json.encode(credentials))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            if credentials is None:
                pipe.hdel(key, "fyers")  # kept by an older release, or while it was the feed
            pipe.expire(key, USER_TTL)
            await pipe.execute()

    async def credentials(self, fy_id: str) -> FyersCredentials | None:
        """The user's Fyers tokens, or None when unknown or unreadable with this key."""
        sealed = await self._redis.hget(keyspace.user_key(fy_id), "fyers")
        if sealed is None:
            return None
        if isinstance(sealed, str):
            sealed = sealed.encode()
        try:
            return msgspec.json.decode(self._cipher.decrypt(sealed), type=FyersCredentials)
        except (ValueError, msgspec.MsgspecError):
            return None

    async def update_access_token(self, fy_id: str, access_token: str, expires_at: int) -> None:
        """Store a renewed access token next to the unchanged refresh token."""
        current = await self.credentials(fy_id)
        if current is None:
            return
        renewed = FyersCredentials(
            access_token=access_token,
            refresh_token=current.refresh_token,
            expires_at=expires_at,
            updated_at=int(self._clock() * 1000),
            # The refresh token is unchanged: so is its issue time (older records: best guess).
            refresh_issued_at=current.refresh_issued_at or current.updated_at,
        )
        sealed = self._cipher.encrypt(msgspec.json.encode(renewed))
        await self._redis.hset(keyspace.user_key(fy_id), "fyers", sealed)
