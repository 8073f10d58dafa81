"""Authenticated REST: profile (/api/v3/profile), symbol-token (/data/symbol-token), index map."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fyers_emulator.errors import BadRequest, InvalidToken
from fyers_emulator.oauth import display_name
from fyers_emulator.runtime import json_response, parse_json_object, runtime
from fyers_emulator.tokens import AccessGrant
from fyers_emulator.universe import INDEX_HSM_MAP

MAX_SYMBOLS_PER_REQUEST = 5000


def _grant(request: Request, *, app_prefix_required: bool) -> AccessGrant:
    """Check ``Authorization: <client_id>:<access_token>`` (or a bare token when allowed)."""
    rt = runtime(request)
    header = request.headers.get("authorization", "").strip()
    client_id, sep, token = header.rpartition(":")
    if not sep:
        if app_prefix_required:
            raise InvalidToken("Authorization must be <client_id>:<access_token>")
        token = header
    elif client_id != rt.settings.client_id:
        raise InvalidToken("Invalid app id in Authorization header")
    if not token:
        raise InvalidToken()
    return rt.tokens.verify_access_token(token)


async def profile(request: Request) -> Response:
    """GET → {"s": "ok", "code": 200, "data": {fy_id, name, email_id, …}}."""
    fy_id = _grant(request, app_prefix_required=True).fy_id
    name = display_name(fy_id)
    data = {
        "fy_id": fy_id,
        "name": name,
        "display_name": name.split(" ")[0],
        "email_id": f"{fy_id.lower()}@example.com",
        "mobile_number": "9999900000",
        "image": None,
        "PAN": "ABCDE1234F",
        "pin_change_date": "01-01-2025 10:00:00",
        "pwd_change_date": None,
        "pwd_to_expire": 90,
        "totp": True,
        "ddpi_enabled": False,
        "mtf_enabled": False,
    }
    return json_response({"s": "ok", "code": 200, "message": "", "data": data})


async def symbol_token(request: Request) -> Response:
    """POST {"symbols": [...]} → {"s": "ok", "validSymbol": {sym: fytoken}, "invalidSymbol": []}.

    The SDK sends the bare access token as Authorization; ``client_id:token`` works too.
    """
    rt = runtime(request)
    rt.metrics.symbol_token_calls.inc()
    _grant(request, app_prefix_required=False)
    body = parse_json_object(await request.body())
    symbols = body.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise BadRequest("symbols must be a list of strings")
    if len(symbols) > MAX_SYMBOLS_PER_REQUEST:
        raise BadRequest(f"At most {MAX_SYMBOLS_PER_REQUEST} symbols per request")
    valid: dict[str, str] = {}
    invalid: list[str] = []
    known = rt.feed.instruments_by_symbol
    for symbol in symbols:
        inst = known.get(symbol)
        if inst is None or symbol in rt.faults.invalid_symbols:
            invalid.append(symbol)
        else:
            valid[symbol] = inst.fytoken
    return json_response(
        {"s": "ok", "code": 200, "message": "", "validSymbol": valid, "invalidSymbol": invalid}
    )


async def index_hsm_mapping(request: Request) -> Response:
    """GET, public: index symbol → the name the data socket uses in its ``if|`` topic."""
    return json_response(INDEX_HSM_MAP)
