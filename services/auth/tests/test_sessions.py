"""Refresh sessions against a real Redis: hashed at rest, atomic rotation, revocation."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import redis.asyncio as aioredis

from livews_auth.errors import SessionExpired, SessionRevoked, Unauthorized
from livews_auth.sessions import SessionStore
from livews_common import names
from livews_devtools.fleet_auth import AuthService, refresh_async, signed_in_async

MAC_KEY = b"k" * 32


def store_for(redis_client: aioredis.Redis, revoked: list[str] | None = None) -> SessionStore:
    sink = revoked if revoked is not None else []
    return SessionStore(
        redis_client, refresh_ttl=3600, access_ttl=900, max_age=86_400, mac_key=MAC_KEY,
        on_revoke=sink.append,
    )  # fmt: skip


async def test_only_hashes_are_stored(redis_client: aioredis.Redis) -> None:
    sessions = store_for(redis_client)
    _, token = await sessions.create("XY12345", "Asha")
    _, rotated = await sessions.rotate(token)
    secrets = [token.split(".")[1].encode(), rotated.split(".")[1].encode()]
    for key in await redis_client.keys("*"):
        kind = await redis_client.type(key)
        values: list[bytes] = []
        if kind == b"hash":
            values = list((await redis_client.hgetall(key)).values())
        elif kind == b"set":
            values = list(await redis_client.smembers(key))
        elif kind == b"string":
            values = [await redis_client.get(key) or b""]
        for secret in secrets:
            assert all(secret not in v for v in values), key
    assert 3500 < await redis_client.ttl(f"auth:session:{{{token.split('.')[0]}}}") <= 3600


async def test_concurrent_use_of_one_token_has_one_winner(redis_client: aioredis.Redis) -> None:
    revoked: list[str] = []
    sessions = store_for(redis_client, revoked)
    _, token = await sessions.create("XY12345", "Asha")
    results = await asyncio.gather(
        *(sessions.rotate(token) for _ in range(8)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, SessionRevoked | Unauthorized) for r in results if r not in winners)
    assert revoked and set(revoked) == {"refresh_reused"}
    with pytest.raises(Unauthorized):
        await sessions.rotate(winners[0][1])  # the session is dead for everyone


async def test_logout_with_an_old_token_revokes(redis_client: aioredis.Redis) -> None:
    sessions = store_for(redis_client)
    session, first = await sessions.create("XY12345", "Asha")
    await sessions.rotate(first)
    assert await sessions.logout(first) == session.sid
    assert await sessions.is_revoked(session.sid)
    assert await redis_client.ttl(names.revoked_session_key(session.sid)) > 900
    assert await sessions.logout(first) is None  # already gone: nothing to do
    assert await sessions.logout("garbage") is None


async def test_async_login_helpers(auth_service: AuthService) -> None:
    async with signed_in_async(auth_service.url, "XC00003") as (client, token):
        assert token != await refresh_async(client)


async def test_a_session_ends_at_its_absolute_lifetime(redis_client: aioredis.Redis) -> None:
    now = [1_000_000.0]
    sessions = SessionStore(
        redis_client, refresh_ttl=3600, access_ttl=900, max_age=7200, mac_key=MAC_KEY,
        clock=lambda: now[0],
    )  # fmt: skip
    session, token = await sessions.create("XY12345", "Asha")
    assert session.ends_at == 1_000_000 + 7200
    assert sessions.cookie_max_age(session) == 3600  # the idle TTL first
    for _ in range(2):  # refreshing inside the idle TTL keeps it alive ...
        now[0] += 3000
        session, token = await sessions.rotate(token)
    assert session.ends_at == 1_000_000 + 7200  # refreshing does not move the end
    assert sessions.cookie_max_age(session) == 1200  # the cookie ends with the session
    assert 1200 < await redis_client.ttl(f"auth:session:{{{session.sid}}}") <= 1200 + 300
    now[0] = 1_000_000 + 7200  # ... but not past the absolute end
    with pytest.raises(SessionExpired):
        await sessions.rotate(token)
    assert not await redis_client.exists(f"auth:session:{{{session.sid}}}")
    with pytest.raises(Unauthorized):  # and it stays gone
        await sessions.rotate(token)


async def test_a_record_auth_did_not_write_mints_nothing(redis_client: aioredis.Redis) -> None:
    sessions = store_for(redis_client)
    real, token = await sessions.create("XY12345", "Asha")
    # A Redis writer copies a real record but names another user; or writes one from scratch.
    record = await redis_client.hgetall(f"auth:session:{{{real.sid}}}")
    await redis_client.hset(f"auth:session:{{{real.sid}}}", "sub", "VICTIM1")
    with pytest.raises(Unauthorized):
        await sessions.rotate(token)
    assert not await redis_client.exists(f"auth:session:{{{real.sid}}}")
    secret = "s" * 43
    forged = {**record, b"cur": hashlib.sha256(secret.encode()).hexdigest(), b"mac": b"0" * 64}
    await redis_client.hset("auth:session:{forgedsid0000000000}", mapping=forged)
    with pytest.raises(Unauthorized):
        await sessions.rotate(f"forgedsid0000000000.{secret}")
