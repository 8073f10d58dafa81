"""OAuth and REST against a real emulator process, through the real SDK where it has a call."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from emulator_harness import CLIENT_ID, PIN, REDIRECT, SECRET, SIGNING_KEY, Emu, app_id_hash


def claims(token: str) -> dict[str, Any]:
    """Decode a JWT payload the way the SDK does (base64 only)."""
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return data


@pytest.fixture
def sdk_config(emu: Emu, tmp_path: Path) -> Iterator[Any]:
    """fyersModel.Config pointed at the emulator for the test, restored afterwards."""
    from fyers_apiv3 import fyersModel

    saved = fyersModel.Config.API, fyersModel.Config.DATA_API
    fyersModel.Config.API = f"{emu.url}/api/v3"
    fyersModel.Config.DATA_API = f"{emu.url}/data"
    try:
        yield fyersModel
    finally:
        fyersModel.Config.API, fyersModel.Config.DATA_API = saved


def post(emu: Emu, path: str, body: Any = None, content: bytes | None = None) -> httpx.Response:
    if content is not None:
        return httpx.post(f"{emu.url}{path}", content=content, timeout=5)
    return httpx.post(f"{emu.url}{path}", json=body, timeout=5)


def assert_error(r: httpx.Response, status: int, code: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["s"] == "error" and body["code"] == code and body["message"], body


def test_sdk_session_model_exchanges_a_code(sdk_config: Any, emu: Emu, tmp_path: Path) -> None:
    session = sdk_config.SessionModel(
        client_id=CLIENT_ID, secret_key=SECRET, redirect_uri=REDIRECT, response_type="code",
        grant_type="authorization_code", state="abc123",
    )  # fmt: skip
    url = session.generate_authcode()
    assert url.startswith(f"{emu.url}/api/v3/generate-authcode?")
    r = httpx.get(url + "&fy_id=XB00002", timeout=5)
    assert r.status_code == 302
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    q = parse_qs(target.query)
    assert q["s"] == ["ok"] and q["code"] == ["200"] and q["state"] == ["abc123"]
    session.set_token(q["auth_code"][0])
    reply = session.generate_token()
    assert reply["s"] == "ok" and reply["code"] == 200
    access = claims(reply["access_token"])
    assert access["fy_id"] == "XB00002" and access["hsm_key"]
    assert access["exp"] > time.time() + 3600
    model = sdk_config.FyersModel(client_id=CLIENT_ID, token=reply["access_token"],
                                  log_path=str(tmp_path))  # fmt: skip
    profile = model.get_profile()
    assert profile["s"] == "ok" and profile["code"] == 200
    assert profile["data"]["fy_id"] == "XB00002"
    assert profile["data"]["name"] == "Vikram Shah" and profile["data"]["email_id"]


def test_login_page_lets_a_developer_pick_a_user(emu: Emu) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
              "state": "s1"}  # fmt: skip
    r = httpx.get(f"{emu.url}/api/v3/generate-authcode", params=params, timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "XA00001" in r.text and "fy_id=XA00001" in r.text and 'name="state"' in r.text


@pytest.mark.parametrize(
    ("override", "code"),
    [({"client_id": "OTHER-100"}, -352), ({"redirect_uri": "not a url"}, -351),
     ({"response_type": "token"}, -50), ({"fy_id": "bad id!"}, -50)],
)  # fmt: skip
def test_generate_authcode_refuses_bad_parameters(
    emu: Emu, override: dict[str, str], code: int
) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
              "state": "s", "fy_id": "XA00001", **override}  # fmt: skip
    r = httpx.get(f"{emu.url}/api/v3/generate-authcode", params=params, timeout=5)
    assert_error(r, 400, code)


def test_configured_redirect_uri_must_match_exactly(emu_factory: Callable[..., Emu]) -> None:
    emu = emu_factory(FYERS_REDIRECT_URI=REDIRECT)
    base = {"client_id": CLIENT_ID, "response_type": "code", "state": "s", "fy_id": "XA00001"}
    url = f"{emu.url}/api/v3/generate-authcode"
    assert httpx.get(url, params={**base, "redirect_uri": REDIRECT}).status_code == 302
    other = httpx.get(url, params={**base, "redirect_uri": REDIRECT + "/x"})
    assert_error(other, 400, -351)


def test_validate_authcode_refuses_a_wrong_app_id_hash(emu: Emu) -> None:
    body = {"grant_type": "authorization_code", "appIdHash": app_id_hash(secret="wrong"),
            "code": emu.auth_code()}  # fmt: skip
    assert_error(post(emu, "/api/v3/validate-authcode", body), 400, -352)


def test_auth_codes_are_single_use(emu: Emu) -> None:
    body = {"grant_type": "authorization_code", "appIdHash": app_id_hash(),
            "code": emu.auth_code()}  # fmt: skip
    assert post(emu, "/api/v3/validate-authcode", body).status_code == 200
    again = post(emu, "/api/v3/validate-authcode", body)
    assert_error(again, 400, -371)
    assert "already been used" in again.json()["message"]


def test_expired_and_forged_auth_codes_are_refused(emu: Emu) -> None:
    now = int(time.time())
    base = {"sub": "auth_code", "app_id": "DEVAPP0001", "fy_id": "XA00001", "jti": "j1",
            "iat": now - 600}  # fmt: skip
    key = hashlib.sha256(SIGNING_KEY.encode()).digest()  # the emulator's HS256 key
    expired = jwt.encode({**base, "exp": now - 300}, key, algorithm="HS256")
    forged = jwt.encode({**base, "exp": now + 300}, b"k" * 32, algorithm="HS256")
    for code, words in ((expired, "expired"), (forged, "Invalid"), ("garbage", "Invalid")):
        body = {"grant_type": "authorization_code", "appIdHash": app_id_hash(), "code": code}
        r = post(emu, "/api/v3/validate-authcode", body)
        assert_error(r, 400, -371)
        assert words in r.json()["message"]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", -50), (b"[1, 2]", -50), (b"", -50),
     (b'{"grant_type": "authorization_code", "appIdHash": "x"}', -374),
     (b'{"grant_type": "authorization_code", "code": "abc"}', -50),
     (b'{"grant_type": "password", "appIdHash": "x", "code": "abc"}', -50),
     (b'{"appIdHash": 5, "code": "abc"}', -50)],
)  # fmt: skip
def test_validate_authcode_refuses_malformed_bodies(emu: Emu, content: bytes, code: int) -> None:
    assert_error(post(emu, "/api/v3/validate-authcode", content=content), 400, code)


def test_refresh_token_with_pin(emu: Emu) -> None:
    tokens = emu.login("XC00003")
    body = {"grant_type": "refresh_token", "appIdHash": app_id_hash(),
            "refresh_token": tokens["refresh_token"], "pin": PIN}  # fmt: skip
    r = post(emu, "/api/v3/validate-refresh-token", body)
    assert r.status_code == 200, r.text
    assert r.json()["s"] == "ok" and claims(r.json()["access_token"])["fy_id"] == "XC00003"
    assert_error(post(emu, "/api/v3/validate-refresh-token", {**body, "pin": "0000"}), 400, -380)
    bad = {**body, "refresh_token": tokens["access_token"]}  # an access token is not one
    assert_error(post(emu, "/api/v3/validate-refresh-token", bad), 400, -376)
    assert_error(post(emu, "/api/v3/validate-refresh-token", {**body, "pin": None}), 400, -50)
    assert_error(post(emu, "/api/v3/validate-refresh-token", content=b"{]"), 400, -50)


def profile(emu: Emu, header: str | None) -> httpx.Response:
    headers = {} if header is None else {"Authorization": header}
    return httpx.get(f"{emu.url}/api/v3/profile", headers=headers, timeout=5)


def test_profile_checks_its_authorization_header(emu: Emu) -> None:
    token = emu.login()["access_token"]
    assert profile(emu, f"{CLIENT_ID}:{token}").json()["data"]["fy_id"] == "XA00001"
    for header in (None, "", token, f"OTHER-100:{token}", f"{CLIENT_ID}:", f"{CLIENT_ID}:x.y.z",
                   f"{CLIENT_ID}:{token[:-3]}abc"):  # fmt: skip
        assert_error(profile(emu, header), 401, -16)


def test_expire_tokens_expires_access_tokens_but_not_refresh_tokens(emu: Emu) -> None:
    tokens = emu.login()
    assert profile(emu, f"{CLIENT_ID}:{tokens['access_token']}").status_code == 200
    emu.admin("expire-tokens")
    assert_error(profile(emu, f"{CLIENT_ID}:{tokens['access_token']}"), 401, -8)
    body = {"grant_type": "refresh_token", "appIdHash": app_id_hash(),
            "refresh_token": tokens["refresh_token"], "pin": PIN}  # fmt: skip
    fresh = post(emu, "/api/v3/validate-refresh-token", body).json()["access_token"]
    assert profile(emu, f"{CLIENT_ID}:{fresh}").status_code == 200


def test_refuse_auth_refuses_code_exchange_and_refresh(emu: Emu) -> None:
    tokens = emu.login()
    emu.admin("refuse-auth", on=True)
    body = {"grant_type": "authorization_code", "appIdHash": app_id_hash(),
            "code": emu.auth_code()}  # fmt: skip
    assert_error(post(emu, "/api/v3/validate-authcode", body), 403, -373)
    refresh = {"grant_type": "refresh_token", "appIdHash": app_id_hash(),
               "refresh_token": tokens["refresh_token"], "pin": PIN}  # fmt: skip
    assert_error(post(emu, "/api/v3/validate-refresh-token", refresh), 403, -373)
    emu.admin("refuse-auth", on=False)
    assert post(emu, "/api/v3/validate-authcode", body).status_code == 200  # code not burnt
    emu.admin("refuse-auth", on=True, scope="socket")
    assert post(emu, "/api/v3/validate-refresh-token", refresh).status_code == 200


def test_symbol_token_sorts_valid_and_invalid_symbols(emu: Emu) -> None:
    token = emu.login()["access_token"]
    symbols = ["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "BSE:SENSEX-INDEX", "NSE:NIFTY25DECFUT",
               "NSE:NOPE-EQ"]  # fmt: skip
    r = httpx.post(f"{emu.url}/data/symbol-token", json={"symbols": symbols},
                   headers={"Authorization": token}, timeout=5)  # fmt: skip
    body = r.json()
    assert body["s"] == "ok" and body["invalidSymbol"] == ["NSE:NOPE-EQ"]
    valid = body["validSymbol"]
    assert valid["NSE:SBIN-EQ"] == "10100000003045"
    assert valid["BSE:SENSEX-INDEX"][:4] == "1210" and valid["NSE:NIFTY25DECFUT"][:4] == "1011"
    emu.admin("invalid-symbol", symbol="NSE:SBIN-EQ")
    r = httpx.post(f"{emu.url}/data/symbol-token", json={"symbols": ["NSE:SBIN-EQ"]},
                   headers={"Authorization": f"{CLIENT_ID}:{token}"}, timeout=5)  # fmt: skip
    assert r.json()["invalidSymbol"] == ["NSE:SBIN-EQ"]
    unauth = httpx.post(f"{emu.url}/data/symbol-token", json={"symbols": symbols}, timeout=5)
    assert_error(unauth, 401, -16)
    bad = httpx.post(f"{emu.url}/data/symbol-token", json={"symbols": "NSE:SBIN-EQ"},
                     headers={"Authorization": token}, timeout=5)  # fmt: skip
    assert_error(bad, 400, -50)


def test_index_map_health_ready_metrics(emu: Emu) -> None:
    index_map = httpx.get(f"{emu.url}/sym_details/index_hsm_mapping.json", timeout=5).json()
    assert index_map["NSE:NIFTY50-INDEX"] == "Nifty 50"
    assert index_map["NSE:NIFTYBANK-INDEX"] == "Nifty Bank"
    assert httpx.get(f"{emu.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{emu.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "reason": None, "checks": {"feed": "running"}}
    text = httpx.get(f"{emu.url}/metrics", timeout=5).text
    assert "fyers_emulator_ticks_total" in text and "fyers_emulator_data_sockets" in text
    assert 'livews_build_info{python="3.' in text and 'service="emulator"' in text


def test_admin_refuses_bad_parameters_and_methods(emu: Emu) -> None:
    for path in ("/admin/stall", "/admin/stall?seconds=-1", "/admin/rate?ticks_per_second=x",
                 "/admin/burst?factor=2", "/admin/invalid-symbol", "/admin/refuse-auth?on=maybe",
                 "/admin/refuse-auth?scope=everything"):  # fmt: skip
        assert_error(httpx.post(f"{emu.url}{path}", timeout=5), 400, -50)
    assert_error(httpx.get(f"{emu.url}/admin/drop", timeout=5), 405, -405)
    assert_error(httpx.get(f"{emu.url}/no/such/path", timeout=5), 404, -404)
    assert httpx.get(f"{emu.url}/admin/state", timeout=5).json()["rate"] == 200.0
