"""Nothing secret reaches the log: run auth at DEBUG through every path and grep its output
for the actual values of every token, code, secret and PIN it handled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import redis
from auth_harness import query_of, set_cookies, wait_for
from cryptography.fernet import Fernet

from livews_auth.keys import generate_private_key_pem
from livews_common import names
from livews_common.feedtoken import TokenCipher
from livews_devtools.fleet_auth import start_auth
from livews_devtools.pytest_plugin import Spawn, start_emulator

SECRET_KEY = "s3cr3t-Zq8wXvLm"
PIN = "Pn7Kx4Qw"


def test_no_token_code_secret_or_pin_is_logged(
    spawn: Spawn, tmp_path: Path, redis_url: str
) -> None:
    emulator = start_emulator(spawn, tmp_path, FYERS_SECRET_KEY=SECRET_KEY, FYERS_PIN=PIN)
    token_key = Fernet.generate_key().decode()
    signing_pem = generate_private_key_pem().decode()
    auth = start_auth(
        spawn, tmp_path, redis_url, emulator,
        FYERS_SECRET_KEY=SECRET_KEY, AUTH_FEED_PIN=PIN, LIVEWS_TOKEN_KEY=token_key,
        AUTH_SIGNING_KEY=signing_pem, LIVEWS_LOG_LEVEL="DEBUG", AUTH_FEED_RETRY_MAX="0.5",
    )  # fmt: skip
    cipher = TokenCipher(token_key.encode())
    store = redis.Redis.from_url(redis_url)
    secrets: dict[str, str] = {
        "client secret": SECRET_KEY,
        "PIN": PIN,
        "appIdHash": hashlib.sha256(f"{emulator.client_id}:{SECRET_KEY}".encode()).hexdigest(),
        "token key": token_key,
    }
    for i, line in enumerate(signing_pem.splitlines()[1:-1]):
        secrets[f"signing key line {i}"] = line

    with httpx.Client(base_url=auth.url) as browser, store:
        started = browser.get("/auth/login", params={"next": "/x"})
        secrets["login nonce"] = set_cookies(started)["livews_login"].value
        at_fyers = browser.get(started.headers["location"] + "&fy_id=XA00001")
        callback = query_of(at_fyers.headers["location"])
        secrets["state"], secrets["auth code"] = callback["state"], callback["auth_code"]
        back = browser.get(at_fyers.headers["location"])
        assert back.status_code == 302
        secrets["refresh 1"] = set_cookies(back)["livews_refresh"].value
        for i in range(2, 4):
            issued = browser.post("/auth/token")
            secrets[f"access {i}"] = issued.json()["access_token"]
            secrets[f"refresh {i}"] = set_cookies(issued)["livews_refresh"].value
        me = browser.get("/auth/me", headers={"Authorization": f"Bearer {secrets['access 3']}"})
        assert me.status_code == 200
        browser.get("/auth/me", headers={"Authorization": "Bearer " + secrets["access 2"] + "x"})
        # a replayed code, a reused refresh token, a failed and a good feed renewal
        assert browser.get(at_fyers.headers["location"]).status_code == 400
        again = browser.get(at_fyers.headers["location"].replace(
            callback["state"], query_of(browser.get("/auth/login").headers["location"])["state"]
        ))  # fmt: skip
        assert again.status_code == 400
        reuse = httpx.post(
            f"{auth.url}/auth/token", cookies={"livews_refresh": secrets["refresh 2"]}
        )
        assert reuse.status_code == 401

        sealed = wait_for(lambda: store.get(names.FEED_TOKEN), what="the feed token")
        first_feed = cipher.open(sealed)
        secrets["fyers access"] = first_feed.access_token.split(":", 1)[1]
        fyers = json.loads(cipher.decrypt(store.hget("auth:user:XA00001", "fyers") or b""))
        secrets["fyers refresh"] = fyers["refresh_token"]

        emulator.admin("refuse-auth", on=True)
        emulator.admin("expire-tokens")
        store.publish(names.FEED_TOKEN_RENEW, "expired")
        wait_for(lambda: b'"ok":false' in (store.get(names.FEED_STATE) or b""), what="failure")
        emulator.admin("refuse-auth", on=False)

        def renewed() -> str | None:
            feed = cipher.open(store.get(names.FEED_TOKEN) or b"")
            return feed.access_token if feed.access_token != first_feed.access_token else None

        secrets["fyers access renewed"] = wait_for(renewed, what="renewal").split(":", 1)[1]
        browser.post("/auth/logout")  # (already revoked by the reuse) — still 204

    auth.process.stop()  # flush everything it had to say
    log = auth.log_path.read_text()
    assert "DEBUG" in log and "signed in" in log and "feed token renewal failed" in log
    leaked = {name for name, value in secrets.items() if value and value in log}
    assert not leaked, f"secrets in the log: {sorted(leaked)}"
    for name, value in secrets.items():
        # A JWT's payload and signature; a refresh token's secret half (its first half is
        # the session id, an identifier that is logged on purpose, like in every access JWT).
        for part in value.split(".")[1:]:
            assert len(part) < 16 or part not in log, f"part of {name} is in the log"
