"""Configuration: --help, prod refusals naming the variable, Secure cookies, key rotation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from auth_harness import generate_key, prod_env, query_of, set_cookies

from livews_auth.app import create_app
from livews_auth.settings import AuthSettings
from livews_common.jwks import KeySet
from livews_common.settings import ConfigError
from livews_devtools.fleet_auth import AuthService, refresh, signed_in, start_auth
from livews_devtools.processes import script
from livews_devtools.pytest_plugin import Emulator, Spawn

AUTH_VARS = (
    "LIVEWS_ENV", "FYERS_CLIENT_ID", "FYERS_SECRET_KEY", "FYERS_REDIRECT_URI",
    "AUTH_SIGNING_KEY", "AUTH_VERIFY_KEYS", "AUTH_FEED_PIN", "AUTH_FEED_ACCOUNT",
    "LIVEWS_TOKEN_KEY",
)  # fmt: skip


def test_help_works() -> None:
    out = subprocess.run([script("livews-auth"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--port" in out.stdout and "--host" in out.stdout


@pytest.mark.parametrize(
    ("missing", "value"),
    [
        ("FYERS_CLIENT_ID", None),
        ("FYERS_SECRET_KEY", None),
        ("FYERS_SECRET_KEY", "changeme"),
        ("FYERS_REDIRECT_URI", None),
        ("FYERS_REDIRECT_URI", "http://md.example.test/auth/callback"),
        ("AUTH_SIGNING_KEY", None),
        ("LIVEWS_TOKEN_KEY", None),
        ("LIVEWS_TOKEN_KEY", "changeme"),
    ],
)
def test_prod_refuses_to_start_without(
    missing: str, value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    for name, val in prod_env(tmp_path).items():
        monkeypatch.setenv(name, val)
    monkeypatch.delenv(missing, raising=False)
    monkeypatch.delenv(f"{missing}_FILE", raising=False)
    if value is not None:
        monkeypatch.setenv(missing, value)
    with pytest.raises(ConfigError, match=missing):
        create_app(AuthSettings.load())


def test_prod_with_a_feed_account_needs_its_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, val in {**prod_env(tmp_path), "AUTH_FEED_ACCOUNT": "XY12345"}.items():
        monkeypatch.setenv(name, val)
    with pytest.raises(ConfigError, match="AUTH_FEED_PIN"):
        AuthSettings.load()
    monkeypatch.setenv("AUTH_FEED_PIN", "1234")
    assert AuthSettings.load().pin == "1234"


def test_the_process_exits_with_the_message(tmp_path: Path) -> None:
    env = {k: v for k, v in prod_env(tmp_path).items() if k != "FYERS_SECRET_KEY"}
    out = subprocess.run(
        [script("livews-auth"), "--port", "0"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert "FYERS_SECRET_KEY" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("var", "value"),
    [("AUTH_SESSION_MAX_AGE", "3"), ("LIVEWS_JWT_LEEWAY", "x"), ("LIVEWS_JWT_LEEWAY", "900"),
     ("AUTH_FEED_RENEW_MIN_INTERVAL", "-1"), ("AUTH_ALLOWED_USERS", "XA00001,bad/id")],
)  # fmt: skip
def test_a_bad_new_knob_is_named_without_a_traceback(tmp_path: Path, var: str, value: str) -> None:
    out = subprocess.run(
        [script("livews-auth"), "--port", "0"],
        env={"PATH": "/usr/bin:/bin", "LIVEWS_STATE_DIR": str(tmp_path), var: value},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert var in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_prod_cookies_are_secure(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, **prod_env(tmp_path))
    with httpx.Client(base_url=auth.url) as raw:
        started = raw.get("/auth/login")
        login_cookie = set_cookies(started)["livews_login"]
        assert login_cookie["secure"] and login_cookie["httponly"]
        redirect_uri = query_of(started.headers["location"])["redirect_uri"]
        assert redirect_uri == "https://md.example.test/auth/callback"
        at_fyers = raw.get(started.headers["location"] + "&fy_id=XY12345")
        callback = query_of(at_fyers.headers["location"])
        # The browser would be at https://md.example.test; replay its request to auth.
        back = raw.get(
            "/auth/callback",
            params=callback,
            headers={"Cookie": f"livews_login={login_cookie.value}"},
        )
        assert back.status_code == 302, back.text
        cookie = set_cookies(back)["livews_refresh"]
        assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/auth"
        assert cookie["samesite"].lower() == "lax"
        assert set_cookies(back)["livews_login"]["secure"]
        issued = raw.post("/auth/token", headers={"Cookie": f"livews_refresh={cookie.value}"})
        assert issued.status_code == 200, issued.text
        assert set_cookies(issued)["livews_refresh"]["secure"]


def test_key_rotation_logs_nobody_out(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    old, new = generate_key(tmp_path / "old.pem"), generate_key(tmp_path / "new.pem")

    def jwks_kids(url: str) -> list[str]:
        return [k["kid"] for k in httpx.get(f"{url}/auth/.well-known/jwks.json").json()["keys"]]

    def me(url: str, token: str) -> httpx.Response:
        return httpx.get(f"{url}/auth/me", headers={"Authorization": f"Bearer {token}"})

    def boot(name: str, signing: Path, published: Path | None = None) -> AuthService:
        env = {"AUTH_SIGNING_KEY_FILE": str(signing)}
        if published is not None:
            env["AUTH_VERIFY_KEYS_FILE"] = str(published)
        return start_auth(spawn, tmp_path, redis_url, emulator, name=name, **env)

    before = boot("auth-old", old)
    with signed_in(before.url) as (client, old_token):
        (old_kid,) = jwks_kids(before.url)
        before.process.stop()

        # 1. publish the next key alongside the active one
        staged = boot("auth-staged", old, published=new)
        kids = jwks_kids(staged.url)
        assert kids[0] == old_kid and len(kids) == 2
        new_kid = kids[1]
        staged.process.stop()

        # 2. the new key signs; the old one is still published: nobody is logged out
        rotated = boot("auth-rotated", new, published=old)
        assert jwks_kids(rotated.url) == [new_kid, old_kid]
        assert me(rotated.url, old_token).status_code == 200
        client.base_url = httpx.URL(rotated.url)
        new_token = refresh(client)  # the same session, now on the new key
        keys = KeySet.from_jwks(httpx.get(f"{rotated.url}/auth/.well-known/jwks.json").json())
        assert keys.verify(old_token).sid == keys.verify(new_token).sid
        assert httpx.get(f"{rotated.url}/auth/me",
                         headers={"Authorization": f"Bearer {new_token}"}).is_success  # fmt: skip
        rotated.process.stop()

        # 3. after the access TTL, drop the old key: its tokens are gone, sessions are not
        retired = boot("auth-retired", new)
        assert jwks_kids(retired.url) == [new_kid]
        assert "unknown_kid" in me(retired.url, old_token).json()["message"]
        assert me(retired.url, new_token).status_code == 200
        client.base_url = httpx.URL(retired.url)
        assert refresh(client)
