"""Who may sign in (AUTH_ALLOWED_USERS) and what auth keeps of them (only the feed account's
Fyers tokens), against a real auth process, the emulator and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from auth_harness import wait_for

from livews_auth.settings import AuthSettings
from livews_common import names
from livews_common.settings import ConfigError
from livews_devtools.fleet_auth import LoginFailed, login, signed_in, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def _callback(auth_url: str, fy_id: str) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=auth_url, timeout=10.0)
    started = client.get("/auth/login", params={"next": "/"})
    sep = "&" if "?" in started.headers["location"] else "?"
    authorized = client.get(f"{started.headers['location']}{sep}fy_id={fy_id}")
    return client, client.get(authorized.headers["location"])


def test_the_allow_list_refuses_others_and_always_admits_the_feed_account(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_FEED_ACCOUNT="XF00001",
                      AUTH_ALLOWED_USERS="XA00001, XB00002\nXC00003")  # fmt: skip
    client, refused = _callback(auth.url, "XZ99999")
    try:
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "forbidden",
            "message": "this Fyers account may not sign in here",
        }
        assert not refused.headers.get_list("set-cookie")
        assert client.post("/auth/token").status_code == 401
    finally:
        client.close()
    assert not store.exists("auth:user:XZ99999")
    assert not list(store.scan_iter(match="auth:session:*"))
    with signed_in(auth.url, "XC00003"):  # listed (newline-separated works too)
        pass
    with signed_in(auth.url, "XF00001"):  # the feed account, not listed: always allowed
        pass
    metrics = httpx.get(f"{auth.url}/metrics").text
    assert 'livews_auth_logins_total{result="forbidden"} 1.0' in metrics


def test_a_malformed_allow_list_stops_auth_at_start() -> None:
    with pytest.raises(ConfigError, match="AUTH_ALLOWED_USERS"):
        AuthSettings.model_validate({"AUTH_ALLOWED_USERS": "XA00001,not/an id"}).check()
    unset = AuthSettings.model_validate({})
    assert unset.allowed_users is None and unset.may_sign_in("anyone")


def test_only_the_feed_accounts_fyers_tokens_are_kept(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator)  # dev: the first user is the feed
    with signed_in(auth.url, "XA00001"):
        pass
    wait_for(lambda: store.exists(names.FEED_TOKEN), what="the feed token")
    # an older release kept every user's tokens: plant one, it must go at the next sign-in
    store.hset("auth:user:XB00002", mapping={"name": "old", "fyers": b"sealed-by-old-release"})
    client, _ = login(auth.url, "XB00002")
    client.close()
    with signed_in(auth.url, "XC00003"):
        pass
    kept = {
        key.decode().removeprefix("auth:user:"): store.hexists(key, "fyers")
        for key in store.scan_iter(match="auth:user:*")
    }
    print(f"\nBOUND users and whether Fyers tokens are kept: {kept}")
    assert kept == {"XA00001": True, "XB00002": False, "XC00003": False}


def test_login_helper_reports_a_refusal(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_ALLOWED_USERS="XA00001")
    with pytest.raises(LoginFailed, match="403"):
        login(auth.url, "XB00002")
