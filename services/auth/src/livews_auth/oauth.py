"""``POST /auth/oauth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4).

For internal services and other programs without a browser. A client authenticates with its
id and secret — HTTP Basic (RFC 6749 §2.3.1, form-encoded id and secret) or the
``client_id``/``client_secret`` form fields, not both — and gets an access JWT like a user's,
with ``sub`` = ``sid`` = ``svc:<client_id>`` and the scopes asked for (default: all the
client is allowed). There is no refresh token and no session: a service asks again.

Implemented here rather than with authlib: authlib's authorization server is built around
its Flask/Django integrations and its own token and client models; for one grant over
FastAPI, the request parsing, the constant-time check and the error mapping are shorter and
clearer than the adapter they would need (docs/auth.md).

Failed client authentications are counted per client address (``AUTH_RATE_CLIENT_FAILURES``
per ``AUTH_RATE_WINDOW``); an address past that limit gets 429 before its secret is looked at.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Annotated
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from livews_auth.clients import ServiceClient
from livews_auth.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
)
from livews_auth.runtime import Runtime

log = logging.getLogger(__name__)

#: A token request is a few short fields; anything longer is refused unread.
MAX_BODY = 4096
#: Rate-limit bucket counting failed client authentications per address.
FAILURES_BUCKET = "client_auth"
GRANT_TYPE = "client_credentials"

router = APIRouter()


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class ClientTokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidRequest("send the request as application/x-www-form-urlencoded")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise InvalidRequest(f"request body over {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InvalidRequest(f"request body over {MAX_BODY} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.2: parameters must not be repeated
            raise InvalidRequest(f"parameter {name!r} is repeated")
        form[name] = value
    return form


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed HTTP Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization")
    basic = _basic(header) if header else None
    in_form = "client_id" in form or "client_secret" in form
    if basic is not None and in_form:
        raise InvalidRequest("send the client credentials one way: HTTP Basic or the form")
    if basic is not None:
        return basic
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not secret:
        raise InvalidClient("client authentication required (HTTP Basic or client_id/secret)")
    return client_id, secret


def _scopes(client: ServiceClient, requested: str | None) -> str:
    if requested is None or not requested.strip():
        return " ".join(sorted(client.scopes))
    asked = requested.split()
    refused = [s for s in asked if s not in client.scopes]
    if refused:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(refused)}")
    return " ".join(sorted(set(asked)))


@router.post(
    "/auth/oauth/token",
    response_model=ClientTokenResponse,
    responses={status: {"description": "error body {error, message}"} for status in
               (400, 401, 429, 503)},
    summary="OAuth2 client-credentials grant for services (form-encoded)",
)  # fmt: skip
async def client_token(request: Request, rt: Annotated[Runtime, Depends(_runtime)]) -> Response:
    form = await _form(request)
    grant = form.get("grant_type")
    if not grant:
        raise InvalidRequest("grant_type is required")
    if grant != GRANT_TYPE:
        raise UnsupportedGrantType()
    client_id, secret = _credentials(request, form)
    address = rt.proxies.client_ip(request)
    await rt.limiter.check(FAILURES_BUCKET, address)
    rt.clients.refresh()
    client = await asyncio.to_thread(rt.clients.authenticate, client_id, secret)
    if client is None:
        await rt.limiter.hit(FAILURES_BUCKET, address)
        log.info("client authentication failed",
                 extra={"client_id": client_id[:64], "address": address})  # fmt: skip
        raise InvalidClient()
    scope = _scopes(client, form.get("scope"))
    issued = rt.tokens.issue(sub=client.sub, sid=client.sub, scope=scope, ttl=rt.client_ttl)
    log.info("client token issued", extra={"client_id": client.client_id, "scope": scope})
    body = ClientTokenResponse(access_token=issued.token, expires_in=issued.expires_in, scope=scope)
    response = JSONResponse(body.model_dump())
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
