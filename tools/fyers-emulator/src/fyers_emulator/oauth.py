"""OAuth endpoints under /api/v3: the login page, the code exchange and the token refresh."""

from __future__ import annotations

import hmac
import html
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fyers_emulator.errors import (
    AuthRefused,
    BadRequest,
    InvalidAppIdHash,
    InvalidClient,
    InvalidPin,
    MissingAuthCode,
    RedirectMismatch,
)
from fyers_emulator.runtime import json_response, parse_json_object, runtime, str_field

#: Users offered on the login page (any id of the same shape may be typed in).
DEV_USERS: dict[str, str] = {
    "XA00001": "Asha Rao",
    "XB00002": "Vikram Shah",
    "XC00003": "Meera Iyer",
}
FY_ID_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")


def display_name(fy_id: str) -> str:
    return DEV_USERS.get(fy_id, f"Dev User {fy_id}")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _check_authorize_params(request: Request) -> tuple[str, str]:
    """The (redirect_uri, state) of a valid authorize request, or an error."""
    rt = runtime(request)
    q = request.query_params
    if q.get("client_id") != rt.settings.client_id:
        raise InvalidClient()
    if q.get("response_type", "code") != "code":
        raise BadRequest("response_type must be code")
    redirect_uri = q.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RedirectMismatch("redirect_uri must be an absolute http(s) URL")
    if rt.settings.redirect_uri is not None and redirect_uri != rt.settings.redirect_uri:
        raise RedirectMismatch()
    return redirect_uri, q.get("state", "")


async def generate_authcode(request: Request) -> Response:
    """GET: the login page, or with ``fy_id=`` a 302 to redirect_uri carrying an auth code."""
    redirect_uri, state = _check_authorize_params(request)
    fy_id = request.query_params.get("fy_id", "").strip().upper()
    if not fy_id:
        return HTMLResponse(_login_page(request))
    if not FY_ID_PATTERN.match(fy_id):
        raise BadRequest("fy_id must be 2-20 letters or digits")
    rt = runtime(request)
    code = rt.tokens.issue_auth_code(fy_id, redirect_uri)
    rt.metrics.tokens_issued.labels("auth_code").inc()
    target = _with_query(
        redirect_uri, {"s": "ok", "code": "200", "auth_code": code, "state": state}
    )
    return RedirectResponse(target, status_code=302)


def _login_page(request: Request) -> str:
    params = {k: v for k, v in request.query_params.items() if k != "fy_id"}
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    links = "".join(
        f'<li><a href="?{html.escape(urlencode({**params, "fy_id": uid}))}">'
        f"{html.escape(name)} <code>{uid}</code></a></li>"
        for uid, name in DEV_USERS.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Fyers emulator login</title>"
        "<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}"
        "li{margin:.4rem 0}</style></head><body>"
        "<h1>Fyers emulator</h1><p>Sign in as a development user:</p>"
        f"<ul>{links}</ul>"
        f"<form method='get'>{hidden}<label>Other user id "
        "<input name='fy_id' pattern='[A-Za-z0-9]{2,20}' required></label> "
        "<button type='submit'>Sign in</button></form></body></html>"
    )


def _check_app_hash(request: Request, app_id_hash: str) -> None:
    expected = runtime(request).settings.app_id_hash
    if not hmac.compare_digest(app_id_hash.encode(), expected.encode()):
        raise InvalidAppIdHash()


async def validate_authcode(request: Request) -> Response:
    """POST {grant_type, appIdHash, code} → {s, code, message, access_token, refresh_token}."""
    rt = runtime(request)
    data = parse_json_object(await request.body())
    if str_field(data, "grant_type", required=False) not in ("", "authorization_code"):
        raise BadRequest("grant_type must be authorization_code")
    code = str_field(data, "code", required=False)
    if not code:
        raise MissingAuthCode()
    _check_app_hash(request, str_field(data, "appIdHash"))
    if rt.faults.refuse_rest_auth:
        raise AuthRefused()
    fy_id = rt.tokens.redeem_auth_code(code)
    access = rt.tokens.issue_access_token(fy_id)
    refresh = rt.tokens.issue_refresh_token(fy_id)
    rt.metrics.tokens_issued.labels("access_token").inc()
    rt.metrics.tokens_issued.labels("refresh_token").inc()
    return json_response(
        {"s": "ok", "code": 200, "message": "", "access_token": access, "refresh_token": refresh}
    )


async def validate_refresh_token(request: Request) -> Response:
    """POST {grant_type, appIdHash, refresh_token, pin} → {s, code, message, access_token}."""
    rt = runtime(request)
    rt.metrics.refresh_calls.inc()
    data = parse_json_object(await request.body())
    if str_field(data, "grant_type", required=False) not in ("", "refresh_token"):
        raise BadRequest("grant_type must be refresh_token")
    _check_app_hash(request, str_field(data, "appIdHash"))
    refresh = str_field(data, "refresh_token")
    pin = data.get("pin")
    if isinstance(pin, int) and not isinstance(pin, bool):
        pin = str(pin)
    if not isinstance(pin, str) or not pin:
        raise BadRequest("Missing field: pin")
    if rt.faults.refuse_rest_auth:
        raise AuthRefused()
    fy_id = rt.tokens.verify_refresh_token(refresh)
    if not hmac.compare_digest(pin.encode(), rt.settings.pin.encode()):
        raise InvalidPin()
    access = rt.tokens.issue_access_token(fy_id)
    rt.metrics.tokens_issued.labels("access_token").inc()
    return json_response({"s": "ok", "code": 200, "message": "", "access_token": access})
