"""Every fault control, observed by a real FyersDataSocket client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from emulator_harness import CLIENT_ID, PIN, Emu, SdkClient, app_id_hash, msg

from fyers_emulator.universe import SYMBOLS

Sdk = Callable[..., SdkClient]
EXPIRED = {"type": "cn", "code": -99, "message": "Token is expired", "s": "error"}
AUTH_FAILED = {"type": "cn", "code": 11001, "message": "Authentication failed", "s": "error"}


def data(e: dict[str, Any]) -> bool:
    d = e["data"]
    return e["ev"] == "message" and isinstance(d, dict) and d.get("type") in ("sf", "if", "dp")


def streaming(emu: Emu, sdk: Sdk, symbols: list[str], **kw: Any) -> SdkClient:
    client = sdk(emu, emu.login()["access_token"], **kw)
    client.subscribe(symbols)
    client.wait_for(data, count=2)
    return client


def measured_rate(client: SdkClient, since: float, count: int) -> float:
    """Data messages per second over the first ``count`` after ``since``."""
    events = client.wait_for(data, count=count, since=since, timeout=30)[:count]
    return (count - 1) / max(1e-3, events[-1]["t"] - events[0]["t"])


def test_drop_closes_every_socket(emu: Emu, sdk: Sdk) -> None:
    client = streaming(emu, sdk, ["NSE:SBIN-EQ"])
    emu.admin("drop")
    closed = client.wait_for(lambda e: e["ev"] == "close")[0]["data"]
    assert closed == {"code": 200, "message": "Connection Closed", "s": "ok"}


def test_after_a_drop_the_sdk_reconnects_but_does_not_resubscribe(emu: Emu, sdk: Sdk) -> None:
    client = streaming(emu, sdk, ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"], reconnect=True)
    emu.admin("drop")
    dropped_at = time.time()
    again = client.wait_for(lambda e: e["ev"] == "connect", since=dropped_at, timeout=30)[0]
    client.wait_for(msg("cn"), since=dropped_at)  # authenticated again
    assert not client.matching(lambda e: data(e) and e["t"] > again["t"])
    client.subscribe(["NSE:SBIN-EQ"])
    client.wait_for(msg("sf", "NSE:SBIN-EQ"), since=again["t"], count=2)


def test_stall_silences_open_and_new_sockets_until_it_ends(emu: Emu, sdk: Sdk) -> None:
    early = streaming(emu, sdk, ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"])
    seconds = 5.0
    emu.admin("stall", seconds=seconds)
    start = time.time()
    late = sdk(emu, emu.login()["access_token"])
    late.subscribe(["NSE:INFY-EQ"])
    acked = late.wait_for(msg("sub"))[0]
    assert acked["t"] < start + seconds  # subscribed during the stall...
    first = late.wait_for(data, timeout=20)[0]
    assert first["t"] >= start + seconds - 0.3  # ...but no data until it ended
    resumed = early.wait_for(data, since=start + seconds - 0.3)[0]
    silent = [e for e in early.matching(data) if start + 0.3 < e["t"] < resumed["t"]]
    assert not silent and resumed["t"] >= start + seconds - 0.3


def test_garbage_frames_do_not_break_the_sdk(emu: Emu, sdk: Sdk, tmp_path: Path) -> None:
    client = streaming(emu, sdk, ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"])
    emu.admin("garbage", count=12)
    after = time.time()
    client.wait_for(data, since=after, count=20)
    assert client.proc.poll() is None
    for event in client.matching(lambda e: e["ev"] == "message" and e["t"] > after):
        d = event["data"]
        assert d["type"] in ("sf", "if") and d["symbol"] in ("NSE:SBIN-EQ", "NSE:NIFTY50-INDEX")
    # The SDK logged each frame it could not parse, and carried on.
    log = (tmp_path / "sdk-0" / "fyersDataSocket.log").read_text()
    assert log.count('"level":"ERROR"') >= 6


def test_expire_tokens_sends_the_expired_reply_and_closes(emu: Emu, sdk: Sdk) -> None:
    tokens = emu.login()
    client = sdk(emu, tokens["access_token"])
    client.subscribe(["NSE:SBIN-EQ"])
    client.wait_for(data)
    emu.admin("expire-tokens")
    assert client.wait_for(lambda e: e["ev"] == "error")[0]["data"] == EXPIRED
    client.wait_for(lambda e: e["ev"] == "close")
    # The same token on a new socket: refused at auth with the same reply.
    reused = sdk(emu, tokens["access_token"])
    assert reused.wait_for(lambda e: e["ev"] == "error")[0]["data"] == EXPIRED
    # The refresh token still works, and so does the access token it gives.
    body = {"grant_type": "refresh_token", "appIdHash": app_id_hash(),
            "refresh_token": tokens["refresh_token"], "pin": PIN}  # fmt: skip
    fresh = httpx.post(f"{emu.url}/api/v3/validate-refresh-token", json=body, timeout=5).json()
    renewed = sdk(emu, fresh["access_token"])
    renewed.subscribe(["NSE:SBIN-EQ"])
    renewed.wait_for(data)


def test_access_token_expiry_closes_the_socket(emu_factory: Callable[..., Emu], sdk: Sdk) -> None:
    emu = emu_factory(EMULATOR_ACCESS_TTL="6")
    client = sdk(emu, emu.login()["access_token"])
    client.subscribe(["NSE:SBIN-EQ"])
    client.wait_for(data)
    assert client.wait_for(lambda e: e["ev"] == "error", timeout=15)[0]["data"] == EXPIRED


def test_refuse_auth_refuses_new_sockets(emu: Emu, sdk: Sdk) -> None:
    token = emu.login()["access_token"]
    emu.admin("refuse-auth", on=True, scope="socket")
    refused = sdk(emu, token)
    assert refused.wait_for(lambda e: e["ev"] == "error")[0]["data"] == AUTH_FAILED
    refused.wait_for(lambda e: e["ev"] == "close")
    profile = httpx.get(f"{emu.url}/api/v3/profile",
                        headers={"Authorization": f"{CLIENT_ID}:{token}"}, timeout=5)  # fmt: skip
    assert profile.status_code == 200  # scope=socket leaves REST alone
    emu.admin("refuse-auth", on=False)
    accepted = sdk(emu, token)
    accepted.wait_for(msg("cn"))


def test_rate_and_burst_change_the_message_rate(emu: Emu, sdk: Sdk) -> None:
    emu.admin("rate", ticks_per_second=40)
    client = streaming(emu, sdk, list(SYMBOLS))
    slow = measured_rate(client, time.time() + 0.3, 40)
    emu.admin("burst", factor=10, seconds=30)
    fast = measured_rate(client, time.time() + 0.3, 200)
    emu.admin("burst", factor=1, seconds=0)
    emu.admin("rate", ticks_per_second=120)
    medium = measured_rate(client, time.time() + 0.3, 120)
    assert 20 < slow < 60, slow
    assert fast > 4 * slow, (slow, fast)
    assert 1.8 * slow < medium < 5 * slow, (slow, medium)


def test_invalid_symbol_stops_its_data_and_refuses_new_subscriptions(emu: Emu, sdk: Sdk) -> None:
    client = streaming(emu, sdk, ["NSE:SBIN-EQ", "NSE:INFY-EQ"])
    client.wait_for(msg("sf", "NSE:SBIN-EQ"))
    emu.admin("invalid-symbol", symbol="NSE:SBIN-EQ")
    client.subscribe(["NSE:SBIN-EQ", "NSE:TCS-EQ"])
    error = client.wait_for(lambda e: e["ev"] == "error")[0]["data"]
    assert error["invalid_symbols"] == ["NSE:SBIN-EQ"]
    acked = client.wait_for(msg("sub"), count=2)[-1]
    client.wait_for(msg("sf", "NSE:TCS-EQ"), since=acked["t"], count=3)
    client.wait_for(msg("sf", "NSE:INFY-EQ"), since=acked["t"], count=3)
    assert not client.matching(lambda e: msg("sf", "NSE:SBIN-EQ")(e) and e["t"] > acked["t"])
    emu.admin("invalid-symbol", symbol="NSE:SBIN-EQ", on=False)
    client.wait_for(msg("sf", "NSE:SBIN-EQ"), since=time.time())


def test_closed_market_is_quiet_with_the_socket_open_and_the_clock_drives_it(
    emu: Emu, sdk: Sdk
) -> None:
    """``/admin/market`` and ``/admin/clock`` (CONTRACT §5 v1.1)."""
    client = streaming(emu, sdk, ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"])
    emu.admin("market", state="closed")
    closed_at = time.time()
    state = httpx.get(f"{emu.url}/admin/state", timeout=5).json()
    assert state["market"] == "closed" and state["current_rate"] == 0.0
    time.sleep(3.0)
    quiet = [e for e in client.matching(data) if e["t"] > closed_at + 0.5]
    print(f"\nBOUND data messages while closed: {len(quiet)} in 2.5 s")
    assert not quiet
    assert not client.matching(lambda e: e["ev"] == "close")  # the socket stays open
    emu.admin("market", state="open")
    client.wait_for(data, since=time.time(), count=2)
    # The calendar from 15:29:50 IST on a Friday, 20× faster: closed after ~0.5 s real.
    emu.admin("clock", speed=20, at="2026-12-04T15:29:50+05:30")
    emu.admin("market", state="calendar")
    assert httpx.get(f"{emu.url}/admin/state", timeout=5).json()["market"] == "open"
    time.sleep(1.5)
    state = httpx.get(f"{emu.url}/admin/state", timeout=5).json()
    assert state["market"] == "closed" and state["clock_speed"] == 20.0
    assert state["market_time"] >= "2026-12-04T15:30"
    for path in ("/admin/market?state=shut", "/admin/clock?speed=0", "/admin/clock?at=yesterday"):
        r = httpx.post(f"{emu.url}{path}", timeout=5)
        assert r.status_code == 400, path
    emu.admin("reset")
    assert httpx.get(f"{emu.url}/admin/state", timeout=5).json()["market"] == "open"
