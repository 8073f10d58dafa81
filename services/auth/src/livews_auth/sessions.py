"""Refresh sessions in Redis: opaque rotating refresh tokens, reuse detection, revocation.

A refresh token is ``<sid>.<secret>``. Redis keeps only SHA-256 hashes of secrets: the
current one in the session hash, every earlier one in the session's used set. Presenting
the current secret rotates it (one Lua script, so two concurrent uses cannot both win);
presenting an earlier one is reuse — someone holds a copy — and revokes the whole session.
A secret that never belonged to the session is simply refused, so knowing a ``sid`` (it is
in every access token) is not enough to revoke anyone.

Each record carries ``mac``, an HMAC-SHA256 of its sid, ``sub``, ``name`` and creation time
under a key derived from the token key (which the gateways and Redis never see): a record
that someone else wrote into Redis — a session "minted" for any user id — fails it, is deleted
and yields no token.

Every session also has an absolute lifetime (``AUTH_SESSION_MAX_AGE`` from its creation):
refreshing cannot extend it, its keys expire by then, and the access tokens minted for it
are capped to end with it.

Revoking deletes the session, marks ``auth:revoked:<sid>`` until the last access token
minted for it has expired, and publishes a :class:`livews_common.models.Revocation` on
``auth:revoked`` so gateways disconnect the session's sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from livews_auth import keyspace
from livews_auth.errors import SessionExpired, SessionRevoked, Unauthorized
from livews_common import names, redisconn
from livews_common.models import Revocation, encode

log = logging.getLogger(__name__)

#: Revocation markers outlive the access TTL by this much (clock skew, in-flight requests).
REVOCATION_MARGIN = 60
#: A session's keys outlive its absolute end by this much, so a refresh just after the end
#: gets the explicit "session ended" refusal (which clears the cookie), not "unknown".
ENDED_GRACE = 300
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$")

# KEYS: session hash, used set.
# ARGV: presented hash, new hash, idle ttl s, now ms, max age ms, grace s.
# A session past its absolute lifetime (or without a creation time) is deleted and refused;
# otherwise the keys expire at the idle TTL or shortly after the absolute end (ARGV[6] s of
# grace, so a late refresh is told the session ended), whichever comes first.
_ROTATE = """
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return {'unknown'} end
local created = tonumber(redis.call('HGET', KEYS[1], 'created'))
local now = tonumber(ARGV[4])
local max_age = tonumber(ARGV[5])
if not created or now - created >= max_age then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'expired'}
end
if cur == ARGV[1] then
  local left = math.ceil((created + max_age - now) / 1000) + tonumber(ARGV[6])
  local ttl = math.min(tonumber(ARGV[3]), left)
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'rotated', ARGV[4])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  return {'ok', redis.call('HGET', KEYS[1], 'sub'), redis.call('HGET', KEYS[1], 'name') or '',
          tostring(created), redis.call('HGET', KEYS[1], 'mac') or ''}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'reused'} end
return {'invalid'}
"""


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    sub: str
    name: str
    ends_at: int  # epoch s: the absolute end of the session (AUTH_SESSION_MAX_AGE)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_refresh_token(token: str | None) -> tuple[str, str] | None:
    """``(sid, secret)`` of a well-formed refresh token, else None."""
    if not token:
        return None
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


class SessionStore:
    """Sessions and their refresh tokens; ``on_revoke(reason)`` observes every revocation."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        refresh_ttl: int,
        access_ttl: int,
        max_age: int,
        mac_key: bytes,
        clock: Callable[[], float] = time.time,
        on_revoke: Callable[[str], None] | None = None,
        on_forged: Callable[[], None] | None = None,
    ) -> None:
        self._redis = redis
        self._mac_key = mac_key
        self._on_forged = on_forged
        self._refresh_ttl = refresh_ttl
        self._max_age = max_age
        self._revoked_ttl = access_ttl + REVOCATION_MARGIN
        self._clock = clock
        self._on_revoke = on_revoke
        self._rotate: Any = redis.register_script(_ROTATE)

    def cookie_max_age(self, session: Session) -> int:
        """The refresh cookie's Max-Age: the idle TTL, but never past the session's end."""
        left = session.ends_at - int(self._clock())
        return max(1, min(self._refresh_ttl, left))

    async def create(self, sub: str, name: str) -> tuple[Session, str]:
        """A new session for ``sub`` and its first refresh token."""
        sid = secrets.token_urlsafe(16)
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        now_ms = str(int(now * 1000))
        key = keyspace.session_key(sid)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={"sub": sub, "name": name, "cur": _hash(secret), "created": now_ms,
                         "rotated": now_ms, "mac": self._mac(sid, sub, name, now_ms)},
            )  # fmt: skip
            pipe.expire(key, min(self._refresh_ttl, self._max_age + ENDED_GRACE))
            await pipe.execute()
        return Session(sid, sub, name, int(now) + self._max_age), f"{sid}.{secret}"

    async def rotate(self, refresh_token: str | None) -> tuple[Session, str]:
        """Exchange a refresh token for the session and its next refresh token.

        Raises :class:`Unauthorized` for a missing, malformed or unknown token,
        :class:`SessionExpired` (after deleting it) for a session past its absolute lifetime,
        and :class:`SessionRevoked` (after revoking the session) for a reused one.
        """
        parsed = parse_refresh_token(refresh_token)
        if parsed is None:
            raise Unauthorized("no valid refresh cookie; sign in")
        sid, secret = parsed
        new_secret = secrets.token_urlsafe(32)
        result = await self._rotate(
            keys=[keyspace.session_key(sid), keyspace.session_used_key(sid)],
            args=[_hash(secret), _hash(new_secret), self._refresh_ttl,
                  int(self._clock() * 1000), self._max_age * 1000, ENDED_GRACE],
        )  # fmt: skip
        verdict = _text(result[0])
        if verdict == "ok":
            sub, name, created = _text(result[1]), _text(result[2]), _text(result[3])
            if not hmac.compare_digest(_text(result[4]), self._mac(sid, sub, name, created)):
                # Written by someone else than auth (a Redis writer): never mint from it.
                log.warning("session record fails its MAC; refused", extra={"sid": sid})
                if self._on_forged is not None:
                    self._on_forged()
                await self._redis.delete(keyspace.session_key(sid), keyspace.session_used_key(sid))
                raise Unauthorized("refresh token is not valid (expired or signed out); sign in")
            ends_at = int(created) // 1000 + self._max_age
            return Session(sid, sub, name, ends_at), f"{sid}.{new_secret}"
        if verdict == "expired":
            log.info("session reached its absolute lifetime", extra={"sid": sid})
            raise SessionExpired()
        if verdict == "reused":
            log.warning("refresh token reused; revoking the session", extra={"sid": sid})
            await self.revoke(sid, "refresh_reused")
            raise SessionRevoked("this refresh token was already used; the session is revoked")
        raise Unauthorized("refresh token is not valid (expired or signed out); sign in")

    def _mac(self, sid: str, sub: str, name: str, created_ms: str) -> str:
        """What only auth can compute: binds a session record's identity fields to its sid."""
        message = "\n".join((sid, sub, name, created_ms)).encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()

    async def logout(self, refresh_token: str | None) -> str | None:
        """Revoke the session a refresh token (current or earlier) belongs to; its sid."""
        parsed = parse_refresh_token(refresh_token)
        if parsed is None:
            return None
        sid, secret = parsed
        presented = _hash(secret)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keyspace.session_key(sid), "cur")
            pipe.sismember(keyspace.session_used_key(sid), presented)
            cur, used = await pipe.execute()
        if cur is None:
            return None
        if not (hmac.compare_digest(_text(cur), presented) or used):
            return None
        await self.revoke(sid, "logout")
        return sid

    async def revoke(self, sid: str, reason: str) -> None:
        """End session ``sid`` everywhere: forget it, mark it, tell the gateways."""
        now_ms = int(self._clock() * 1000)
        notice = encode(Revocation(sid=sid, reason=reason, ts=now_ms))
        # On a Cluster the three keys share the session's hash tag; the notice follows the
        # transaction there (a cluster transaction takes only commands of its slot).
        cluster = redisconn.is_cluster(self._redis)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keyspace.session_key(sid), keyspace.session_used_key(sid))
            pipe.set(names.revoked_session_key(sid, cluster), reason, ex=self._revoked_ttl)
            if not cluster:
                pipe.publish(names.SESSION_REVOKED, notice)
            await pipe.execute()
        if cluster:
            await self._redis.publish(names.SESSION_REVOKED, notice)
        if self._on_revoke is not None:
            self._on_revoke(reason)
        log.info("session revoked", extra={"sid": sid, "reason": reason})

    async def is_revoked(self, sid: str) -> bool:
        return bool(
            await self._redis.exists(
                names.revoked_session_key(sid, redisconn.is_cluster(self._redis))
            )
        )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
