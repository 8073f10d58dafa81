"""Attacks on sign-in, sessions and the feed token against one running fleet (issue #12).

The fleet here runs auth with an allow-list, a short absolute session lifetime and a short
renewal interval, so each bound can be seen in seconds. What a Redis writer can do is done
with the fleet's admin Redis URL — the most an attacker who got into Redis could have.

Each test prints what it measured (``BOUND …``) and asserts the bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import redis
import socketio
from cryptography.hazmat.primitives import serialization

from livews_common import names, redisconn
from livews_devtools.fleet import Fleet
from livews_devtools.fleet_auth import login
from livews_devtools.fleet_gateway import parse_metrics
from livews_devtools.fleet_marketdata import FEED_ACCOUNT
from livews_devtools.recorder import close_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALLOWED = ("XA00001", "XB00002")
REFUSED = "XZ99999"
SESSION_MAX_AGE = 12
RENEW_INTERVAL = 20.0
FLOOD = 200


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    auth_env = {
        "AUTH_ALLOWED_USERS": ",".join((FEED_ACCOUNT, *ALLOWED)),
        "AUTH_SESSION_MAX_AGE": str(SESSION_MAX_AGE),
        "AUTH_FEED_RENEW_MIN_INTERVAL": str(RENEW_INTERVAL),
    }
    fleet = Fleet(tmp_path_factory.mktemp("hostile-auth"), gateways=1, ingestors=1,
                  auth_env=auth_env)  # fmt: skip
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.close()


def admin_redis(fleet: Fleet) -> redis.Redis:
    return redisconn.connect_sync(fleet.redis.url)


def metrics(url: str) -> dict[str, float]:
    return parse_metrics(httpx.get(f"{url}/metrics", timeout=5.0).text)


def total(samples: dict[str, float], name: str) -> float:
    """Sum of every sample of ``name`` (all label sets)."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def wait_until(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.1)


class Counts:
    """The numbers the renewal-throttle test watches, read from three /metrics pages."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def read(self) -> dict[str, float]:
        emu = metrics(self.fleet.emulator.url)
        auth = metrics(self.fleet.auth.url)
        md = metrics(self.fleet.ingestors[0].url)
        return {
            "refresh_calls": total(emu, "fyers_emulator_validate_refresh_token_calls_total"),
            "socket_connects": total(emu, "fyers_emulator_data_socket_connects_total"),
            "requests": total(auth, "livews_auth_feed_renew_requests_total"),
            "renewed": auth.get('livews_auth_feed_renewals_total{result="ok"}', 0.0),
            "alive": auth.get('livews_auth_feed_renew_ignored_total{reason="token_alive"}', 0.0),
            "throttled": auth.get('livews_auth_feed_renew_ignored_total{reason="throttled"}', 0.0),
            "reconnects": total(md, "livews_marketdata_upstream_reconnects_total"),
            "notices_ignored": total(md, "livews_marketdata_token_notices_ignored_total"),
        }


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


def flood(r: redis.Redis, channel: str, n: int, payload: bytes) -> None:
    if redisconn.is_cluster(r):  # a Cluster pipeline refuses PUBLISH: one call each there
        for _ in range(n):
            r.publish(channel, payload)
        return
    with r.pipeline(transaction=False) as pipe:
        for _ in range(n):
            pipe.publish(channel, payload)
        pipe.execute()


def published_at(r: redis.Redis) -> float:
    """When auth last published the feed token (``auth:feed:state`` ts, epoch s)."""
    raw = r.get(names.FEED_STATE)
    assert isinstance(raw, bytes)
    return float(json.loads(raw)["ts"]) / 1000


def test_renew_flood_costs_at_most_one_renewal_per_interval(fleet: Fleet) -> None:
    r = admin_redis(fleet)
    counts = Counts(fleet)
    wait_until(lambda: counts.read()["socket_connects"] >= 1, 20, "the upstream connected")

    # 1. The token works: a flood of renew requests and forged token notices changes nothing.
    before = counts.read()
    flood(r, names.FEED_TOKEN_RENEW, FLOOD, b"upstream: token expired (forged)")
    flood(r, names.FEED_TOKEN_CHANGED, FLOOD, b'{"account":"x","expires_at":1,"issued_at":1}')
    wait_until(lambda: counts.read()["requests"] - before["requests"] >= FLOOD, 20,
               "auth to receive the flood")  # fmt: skip
    wait_until(lambda: counts.read()["alive"] > before["alive"], 20, "auth to check the token")
    time.sleep(2.0)  # let anything the flood could have started happen
    alive = delta(counts.read(), before)
    print(f"\nBOUND renew flood, live token: {FLOOD} requests + {FLOOD} forged notices -> "
          f"{alive['refresh_calls']:.0f} validate-refresh-token calls, "
          f"{alive['reconnects']:.0f} upstream reconnects, {alive['socket_connects']:.0f} "
          f"upstream connects, {alive['alive']:.0f} profile checks")  # fmt: skip
    assert alive["refresh_calls"] == 0 and alive["renewed"] == 0
    assert alive["reconnects"] == 0 and alive["socket_connects"] == 0
    assert 1 <= alive["alive"] <= 3  # coalesced: one check per 5 s, not one per message
    assert alive["notices_ignored"] >= 1

    # 2. The token really dies (Fyers expires it): one renewal, however many requests.
    before = counts.read()
    fleet.admin("expire-tokens")
    flood(r, names.FEED_TOKEN_RENEW, FLOOD, b"upstream: token expired (forged)")
    wait_until(lambda: counts.read()["renewed"] > before["renewed"], 30, "the renewal")
    first_renewal = published_at(r)
    flood(r, names.FEED_TOKEN_RENEW, FLOOD, b"upstream: token expired (forged)")
    wait_until(lambda: counts.read()["requests"] - before["requests"] >= 2 * FLOOD, 20,
               "auth to receive the second flood")  # fmt: skip
    time.sleep(3.0)
    dead = delta(counts.read(), before)
    print(f"\nBOUND renew flood, dead token: {2 * FLOOD} requests -> "
          f"{dead['refresh_calls']:.0f} validate-refresh-token calls, "
          f"{dead['reconnects']:.0f} upstream reconnects, "
          f"{dead['socket_connects']:.0f} upstream connects")  # fmt: skip
    # one renewal; a second call only if the first failed on this busy machine (a retry)
    assert dead["renewed"] == 1 and dead["refresh_calls"] <= 2
    # the expiry ends one connection and the new token starts one (plus a retry or two)
    assert dead["socket_connects"] <= 4 and dead["reconnects"] <= 4

    # 3. It dies again at once: the next renewal waits out the interval, whatever the flood.
    before = counts.read()
    fleet.admin("expire-tokens")
    for _ in range(5):
        flood(r, names.FEED_TOKEN_RENEW, FLOOD // 5, b"again (forged)")
        time.sleep(1.0)
    wait_until(lambda: counts.read()["throttled"] > before["throttled"], 20, "a deferral")
    held_off = counts.read()
    assert held_off["renewed"] == before["renewed"]
    wait_until(lambda: counts.read()["renewed"] > before["renewed"], RENEW_INTERVAL + 30,
               "the renewal after the interval")  # fmt: skip
    gap = published_at(r) - first_renewal
    again = delta(counts.read(), before)
    print(f"\nBOUND token dead again within the interval: next renewal {gap:.1f}s after the "
          f"previous (interval {RENEW_INTERVAL:.0f}s), {again['refresh_calls']:.0f} "
          f"validate-refresh-token calls, {again['throttled']:.0f} deferrals")  # fmt: skip
    assert gap >= RENEW_INTERVAL - 0.5
    assert again["renewed"] == 1 and again["refresh_calls"] <= 2
    wait_until(lambda: (fleet.ingestors[0].get("/readyz").status_code == 200), 30,
               "the ingestor streaming again")  # fmt: skip


def _user_keys(r: redis.Redis) -> dict[str, dict[bytes, bytes]]:
    users: dict[str, dict[bytes, bytes]] = {}
    for key in r.scan_iter(match="auth:user:*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        users[name.removeprefix("auth:user:")] = r.hgetall(key)  # type: ignore[assignment]
    return users


def test_only_the_feed_account_keeps_fyers_tokens(fleet: Fleet) -> None:
    r = admin_redis(fleet)
    for fy_id in ALLOWED:
        fleet.login(fy_id)
    users = _user_keys(r)
    with_tokens = sorted(u for u, fields in users.items() if b"fyers" in fields)
    print(f"\nBOUND users in Redis: {sorted(users)}; holding Fyers tokens: {with_tokens}")
    assert set(ALLOWED) <= set(users)
    assert with_tokens == [FEED_ACCOUNT]


def test_allow_list_refuses_others(fleet: Fleet) -> None:
    r = admin_redis(fleet)
    sessions_before = sum(1 for _ in r.scan_iter(match="auth:session:*", count=1000))
    with httpx.Client(base_url=fleet.url, timeout=10.0) as client:
        started = client.get("/auth/login", params={"next": "/"})
        assert started.status_code == 302
        sep = "&" if "?" in started.headers["location"] else "?"
        authorized = client.get(f"{started.headers['location']}{sep}fy_id={REFUSED}")
        assert authorized.status_code == 302
        back = client.get(authorized.headers["location"])
        set_cookies = back.headers.get_list("set-cookie")
        print(f"\nBOUND {REFUSED} (not allowed): callback {back.status_code} "
              f"{back.json()}, Set-Cookie: {set_cookies}")  # fmt: skip
        assert back.status_code == 403 and back.json()["error"] == "forbidden"
        assert not set_cookies and "livews_refresh" not in client.cookies
        assert client.post("/auth/token").status_code == 401
    sessions_after = sum(1 for _ in r.scan_iter(match="auth:session:*", count=1000))
    assert sessions_after == sessions_before
    assert REFUSED not in _user_keys(r)


def test_a_session_minted_in_redis_gets_no_token(fleet: Fleet) -> None:
    r = admin_redis(fleet)
    # A Redis writer copies a real session record and makes it someone else's, or writes one.
    client, _ = login(fleet.url, ALLOWED[0])
    try:
        cookie = client.cookies["livews_refresh"]
        sid = cookie.split(".")[0]
        record = r.hgetall(f"auth:session:{{{sid}}}")
        r.hset(f"auth:session:{{{sid}}}", "sub", "XV00001")
        hijacked = client.post("/auth/token")
    finally:
        client.close()
    secret = secrets.token_urlsafe(32)
    forged_sid = secrets.token_urlsafe(16)
    forged = {**record, b"sub": b"XV00001", b"cur": hashlib.sha256(secret.encode()).hexdigest()}
    r.hset(f"auth:session:{{{forged_sid}}}", mapping=forged)  # type: ignore[arg-type]
    minted = httpx.post(f"{fleet.url}/auth/token", timeout=10,
                        headers={"Cookie": f"livews_refresh={forged_sid}.{secret}"})  # fmt: skip
    refused = metrics(fleet.auth.url).get("livews_auth_sessions_forged_total", 0.0)
    print(f"\nBOUND forged session records: altered {hijacked.status_code}, minted "
          f"{minted.status_code}; sessions_forged_total {refused:.0f}")  # fmt: skip
    assert hijacked.status_code == 401 and minted.status_code == 401
    assert "access_token" not in hijacked.text + minted.text
    assert refused >= 2
    assert not r.exists(f"auth:session:{{{forged_sid}}}")


def test_a_session_ends_at_its_absolute_lifetime(fleet: Fleet) -> None:
    client, token = login(fleet.url, ALLOWED[0])
    try:
        began = time.time()
        first = jwt.decode(token, options={"verify_signature": False})
        ends = first["iat"] + SESSION_MAX_AGE
        # Sent by hand: a browser drops the cookie at its Max-Age (the session's end) by
        # itself; a client that keeps a copy must be refused by the server too.
        cookie = client.cookies["livews_refresh"]
        client.cookies.clear()
        refreshed = 0
        while True:
            response = client.post("/auth/token", headers={"Cookie": f"livews_refresh={cookie}"})
            if response.status_code != 200:
                break
            refreshed += 1
            cookie = response.cookies["livews_refresh"]
            max_age = int(response.headers["set-cookie"].split("Max-Age=")[1].split(";")[0])
            claims = jwt.decode(response.json()["access_token"],
                                options={"verify_signature": False})  # fmt: skip
            assert claims["exp"] <= ends + 1, "an access token outlives its session"
            assert time.time() + max_age <= ends + 2, "the cookie outlives its session"
            time.sleep(1.0)
            assert time.time() - began < SESSION_MAX_AGE + 10, "the session did not end"
        lived = time.time() - began
        cleared = response.headers.get("set-cookie", "")
        print(f"\nBOUND session refreshed {refreshed} times, refused after {lived:.1f}s "
              f"(AUTH_SESSION_MAX_AGE={SESSION_MAX_AGE}): {response.status_code} "
              f"{response.json()}; cookie cleared: {'Max-Age=0' in cleared}")  # fmt: skip
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        assert "maximum lifetime" in response.json()["message"]
        assert "livews_refresh=" in cleared and "Max-Age=0" in cleared
        assert SESSION_MAX_AGE - 2 <= lived <= SESSION_MAX_AGE + 3
        assert refreshed >= 3  # refreshing worked until then
    finally:
        client.close()


def _mint(fleet: Fleet, **times: int) -> str:
    """An access token signed with the fleet's real (dev) key, with chosen time claims."""
    key = serialization.load_pem_private_key(
        (fleet.auth.state_dir / "auth-signing-key.pem").read_bytes(), password=None
    )
    real = fleet.login(ALLOWED[1])
    header = jwt.get_unverified_header(real)
    claims = {**jwt.decode(real, options={"verify_signature": False}), **times}
    token: str = jwt.encode(
        claims,
        key,
        algorithm=header["alg"],
        headers={"kid": header["kid"]},  # type: ignore[arg-type]
    )
    return token


async def _gateway_accepts(fleet: Fleet, token: str) -> bool:
    sio = socketio.AsyncClient(reconnection=False)
    try:
        await sio.connect(fleet.url, auth={"token": token}, transports=["websocket"],
                          wait_timeout=10)  # fmt: skip
    except socketio.exceptions.ConnectionError:
        return False
    finally:
        await close_client(sio)
    return True


def test_jwt_leeway_forgives_small_skew_only(fleet: Fleet) -> None:
    now = int(time.time())
    cases = {
        "exp 5 s ago": (_mint(fleet, iat=now - 600, exp=now - 5), True),
        "iat 5 s ahead": (_mint(fleet, iat=now + 5, exp=now + 600), True),
        "exp 90 s ago": (_mint(fleet, iat=now - 600, exp=now - 90), False),
        "iat 90 s ahead": (_mint(fleet, iat=now + 90, exp=now + 600), False),
        "nbf 90 s ahead": (_mint(fleet, nbf=now + 90), False),
    }
    seen: dict[str, tuple[int, bool]] = {}
    for name, (token, _) in cases.items():
        me = httpx.get(f"{fleet.url}/auth/me", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)  # fmt: skip
        seen[name] = (me.status_code, asyncio.run(_gateway_accepts(fleet, token)))
    print(f"\nBOUND leeway 30 s: (/auth/me status, gateway accepts) = {seen}")
    for name, (_, ok) in cases.items():
        assert seen[name] == ((200, True) if ok else (401, False)), name
