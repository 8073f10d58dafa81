"""The sign-in flow end to end: a real auth process, the real emulator, a real Redis."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from auth_harness import query_of, set_cookies, wait_for

from livews_common import names
from livews_common.claims import SCOPE_MARKET_DATA
from livews_common.jwks import KeySet
from livews_common.models import Revocation, decode
from livews_devtools.fleet_auth import AuthService, refresh, signed_in, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn


def begin(client: httpx.Client, next_path: str = "/") -> httpx.Response:
    response = client.get("/auth/login", params={"next": next_path})
    assert response.status_code == 302, response.text
    return response


def authorize(client: httpx.Client, login_response: httpx.Response, fy_id: str = "XY12345") -> str:
    """Follow the emulator's authorize page; the callback URL it redirects to."""
    at_fyers = client.get(login_response.headers["location"] + f"&fy_id={fy_id}")
    assert at_fyers.status_code == 302, at_fyers.text
    location: str = at_fyers.headers["location"]
    return location


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert response.json()["message"]
    assert "set-cookie" not in response.headers, "a failed response must not set a cookie"


def test_whole_flow_gives_a_jwt_that_verifies_against_the_jwks(
    auth_service: AuthService, emulator: Emulator
) -> None:
    with httpx.Client(base_url=auth_service.url) as browser:
        started = begin(browser, "/board?x=1")
        authorize_url = started.headers["location"]
        assert authorize_url.startswith(emulator.api_base + "/generate-authcode?")
        params = query_of(authorize_url)
        assert params["client_id"] == emulator.client_id
        assert params["response_type"] == "code"
        assert params["redirect_uri"] == f"{auth_service.url}/auth/callback"
        assert len(params["state"]) >= 32
        login_cookie = set_cookies(started)["livews_login"]
        assert login_cookie["httponly"] and login_cookie["path"] == "/auth"

        callback = authorize(browser, started)
        assert query_of(callback)["state"] == params["state"]
        back = browser.get(callback)
        assert back.status_code == 302, back.text
        assert back.headers["location"] == "/board?x=1"
        cookie = set_cookies(back)["livews_refresh"]
        assert cookie["httponly"] and cookie["path"] == "/auth"
        assert cookie["samesite"].lower() == "lax"
        assert not cookie["secure"], "dev cookies are not Secure (plain http)"
        assert "access_token" not in back.text and "refresh_token" not in back.text

        issued = browser.post("/auth/token")
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900
        assert issued.headers["cache-control"] == "no-store"
        assert set_cookies(issued)["livews_refresh"].value != cookie.value, "cookie rotates"

        jwks = httpx.get(auth_service.jwks_url).json()
        claims = KeySet.from_jwks(jwks).verify(body["access_token"])
        assert claims.sub == "XY12345" and claims.scope == SCOPE_MARKET_DATA
        assert claims.exp - claims.iat == 900 and claims.iss == "livews-auth"

        me = browser.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json() == {
            "sub": "XY12345",
            "name": "Dev User XY12345",
            "sid": claims.sid,
            "scope": "md:read",
        }


def test_login_helper_and_refresh(auth_service: AuthService) -> None:
    with signed_in(auth_service.url, "XA00001") as (client, first):
        second = refresh(client)
        assert first != second
        keys = KeySet.from_jwks(httpx.get(auth_service.jwks_url).json())
        assert keys.verify(first).sid == keys.verify(second).sid
        assert keys.verify(second).name == "Asha Rao"


@pytest.mark.parametrize(
    "next_path",
    ["//evil.example", "/\\evil.example", "https://evil.example/", "evil", "/\t/evil.example",
     "javascript:alert(1)", "/%0a/x\n", "\\\\evil"],
)  # fmt: skip
def test_open_redirect_in_next_is_refused(auth_service: AuthService, next_path: str) -> None:
    response = httpx.get(f"{auth_service.url}/auth/login", params={"next": next_path})
    assert_error(response, 400, "bad_request")


def test_state_refusals(auth_service: AuthService) -> None:
    with httpx.Client(base_url=auth_service.url) as browser:
        started = begin(browser)
        callback = authorize(browser, started)
        code = query_of(callback)["auth_code"]
        state = query_of(callback)["state"]

        # missing state
        assert_error(browser.get("/auth/callback", params={"auth_code": code}), 400,
                     "invalid_state")  # fmt: skip
        # tampered state
        tampered = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
        assert_error(
            browser.get("/auth/callback", params={"auth_code": code, "state": tampered}),
            400, "invalid_state",
        )  # fmt: skip
        # another browser presenting this browser's state (login CSRF): refused, and burnt
        with httpx.Client(base_url=auth_service.url) as other:
            assert_error(other.get(callback), 400, "invalid_state")
        assert_error(browser.get(callback), 400, "invalid_state")

        # a fresh state works once; replaying it is refused
        started = begin(browser)
        callback = authorize(browser, started)
        assert browser.get(callback).status_code == 302
        assert_error(browser.get(callback), 400, "invalid_state")


def test_expired_state_is_refused(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_LOGIN_TTL="1")
    store = redis.Redis.from_url(redis_url)
    with httpx.Client(base_url=auth.url) as browser, store:
        callback = authorize(browser, begin(browser))
        assert store.keys("auth:login:*")
        wait_for(lambda: not store.keys("auth:login:*"), what="the login state to expire")
        assert_error(browser.get(callback), 400, "invalid_state")


def test_replayed_auth_code_is_refused(auth_service: AuthService) -> None:
    with httpx.Client(base_url=auth_service.url) as browser:
        callback = authorize(browser, begin(browser))
        code = query_of(callback)["auth_code"]
        assert browser.get(callback).status_code == 302
        # a new state, the old code: Fyers refuses it → invalid_grant
        callback2 = authorize(browser, begin(browser))
        replay = callback2.replace(query_of(callback2)["auth_code"], code)
        assert_error(browser.get(replay), 400, "invalid_grant")


def test_fyers_error_on_the_way_back_is_invalid_grant(auth_service: AuthService) -> None:
    with httpx.Client(base_url=auth_service.url) as browser:
        state = query_of(begin(browser).headers["location"])["state"]
        response = browser.get("/auth/callback", params={"s": "error", "state": state})
        assert_error(response, 400, "invalid_grant")


def test_fyers_refusing_the_exchange_is_invalid_grant(
    auth_service: AuthService, emulator: Emulator
) -> None:
    with httpx.Client(base_url=auth_service.url) as browser:
        callback = authorize(browser, begin(browser))
        emulator.admin("refuse-auth", on=True)
        assert_error(browser.get(callback), 400, "invalid_grant")


def test_fyers_unreachable_is_502(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    from livews_devtools.ports import free_port

    dead = f"http://127.0.0.1:{free_port()}/api/v3"
    auth = start_auth(spawn, tmp_path, redis_url, emulator, FYERS_API_BASE=dead)
    with httpx.Client(base_url=auth.url) as browser:
        # A real code from the emulator, redeemed through an auth that cannot reach Fyers.
        started = begin(browser)
        state = query_of(started.headers["location"])["state"]
        at_fyers = browser.get(
            f"{emulator.api_base}/generate-authcode",
            params={"client_id": emulator.client_id, "redirect_uri": f"{auth.url}/auth/callback",
                    "response_type": "code", "state": state, "fy_id": "XY12345"},
        )  # fmt: skip
        assert_error(browser.get(at_fyers.headers["location"]), 502, "upstream_unavailable")


def test_reused_refresh_token_revokes_the_whole_session(
    auth_service: AuthService, redis_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    pubsub = store.pubsub()
    pubsub.subscribe(names.SESSION_REVOKED)
    with signed_in(auth_service.url) as (client, token), store, pubsub:
        stolen = client.cookies["livews_refresh"]
        fresh = refresh(client)  # rotates: `stolen` is now an old token
        sid = KeySet.from_jwks(httpx.get(auth_service.jwks_url).json()).verify(fresh).sid

        replay = httpx.post(f"{auth_service.url}/auth/token", cookies={"livews_refresh": stolen})
        assert_error(replay, 401, "session_revoked")

        # the legitimate holder is out too, and every access token of the session is refused
        assert_error(client.post("/auth/token"), 401, "unauthorized")
        for access in (token, fresh):
            me = client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
            assert_error(me, 401, "session_revoked")
        assert store.exists(names.revoked_session_key(sid))
        assert store.ttl(names.revoked_session_key(sid)) >= 900

        def revocation() -> Revocation | None:
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                return decode(message["data"], Revocation)
            return None

        got = wait_for(revocation, what="a revocation on auth:revoked")
        assert got.sid == sid and got.reason == "refresh_reused"
        metrics = httpx.get(f"{auth_service.url}/metrics").text
        assert "livews_auth_refresh_reuse_detected_total 1.0" in metrics


def test_a_forged_refresh_token_for_a_known_sid_revokes_nothing(auth_service: AuthService) -> None:
    with signed_in(auth_service.url) as (client, _):
        sid = client.cookies["livews_refresh"].split(".")[0]
        forged = f"{sid}.{'A' * 43}"
        response = httpx.post(f"{auth_service.url}/auth/token", cookies={"livews_refresh": forged})
        assert_error(response, 401, "unauthorized")
        assert refresh(client), "the real session is untouched"


def test_logout_revokes_and_clears(auth_service: AuthService, redis_url: str) -> None:
    store = redis.Redis.from_url(redis_url)
    with signed_in(auth_service.url) as (client, token), store:
        out = client.post("/auth/logout")
        assert out.status_code == 204
        cleared = set_cookies(out)["livews_refresh"]
        assert cleared.value == "" and cleared["max-age"] == "0"
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(me, 401, "session_revoked")
        assert_error(client.post("/auth/token"), 401, "unauthorized")
        assert client.post("/auth/logout").status_code == 204, "logging out twice is fine"
        assert httpx.post(f"{auth_service.url}/auth/logout").status_code == 204


def test_cross_site_origin_is_refused(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(
        spawn, tmp_path, redis_url, emulator, AUTH_ALLOWED_ORIGINS="https://app.example"
    )
    with signed_in(auth.url) as (client, _):
        for path in ("/auth/token", "/auth/logout"):
            for origin in ("https://evil.example", "null", f"{auth.url}.evil.example"):
                refused = client.post(path, headers={"Origin": origin})
                assert_error(refused, 403, "forbidden")
            no_origin_cross = client.post(path, headers={"Sec-Fetch-Site": "cross-site"})
            assert_error(no_origin_cross, 403, "forbidden")
        assert client.post("/auth/token", headers={"Origin": auth.url}).status_code == 200
        allowed = client.post("/auth/token", headers={"Origin": "https://app.example"})
        assert allowed.status_code == 200
        assert client.post("/auth/token").status_code == 200, "no Origin: a non-browser client"


def test_rate_limits_answer_429_with_retry_after(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(
        spawn, tmp_path, redis_url, emulator, AUTH_RATE_LOGIN="3", AUTH_RATE_TOKEN="2",
        AUTH_RATE_WINDOW="30",
    )  # fmt: skip
    with httpx.Client(base_url=auth.url) as client:
        for _ in range(3):
            assert client.get("/auth/login").status_code == 302
        limited = client.get("/auth/login")
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert client.post("/auth/token").status_code == 401
        assert client.post("/auth/token").status_code == 401
        assert_error(client.post("/auth/token"), 429, "rate_limited")
        # X-Forwarded-For from a trusted proxy (loopback by default) is a different client
        other = client.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.9"})
        assert other.status_code == 302
        metrics = client.get("/metrics").text
        assert 'livews_auth_rate_limited_total{bucket="login"} 1.0' in metrics


def test_redirect_uri_follows_trusted_forwarded_headers(auth_service: AuthService) -> None:
    response = httpx.get(
        f"{auth_service.url}/auth/login",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "md.example.com"},
    )
    assert query_of(response.headers["location"])["redirect_uri"] == (
        "https://md.example.com/auth/callback"
    )


def test_health_ready_metrics_docs(auth_service: AuthService) -> None:
    base = auth_service.url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    metrics = httpx.get(f"{base}/metrics").text
    for name in ("livews_auth_logins_total", "livews_auth_tokens_issued_total",
                 "livews_auth_fyers_request_seconds", "livews_auth_feed_ok",
                 "livews_auth_feed_token_ttl_seconds"):  # fmt: skip
        assert name in metrics
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "LiveWebsocket auth"
    assert httpx.get(f"{base}/docs").status_code == 200
    assert_error(httpx.get(f"{base}/nope"), 404, "not_found")
