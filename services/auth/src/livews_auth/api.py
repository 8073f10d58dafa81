"""The HTTP API of CONTRACT §2, plus health, readiness and metrics.

Handlers validate input, call the domain modules and map upstream failures to the stable
error codes; ``app.py`` turns every :class:`~livews_auth.errors.AuthError` into the JSON error
body. No response that fails sets a cookie.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from redis.exceptions import RedisError

from livews_auth.errors import (
    AuthError,
    CrossSiteRequest,
    Forbidden,
    InvalidGrant,
    SessionExpired,
    SessionRevoked,
    Unauthorized,
    UpstreamUnavailable,
)
from livews_auth.logins import safe_next, valid_nonce
from livews_auth.runtime import Runtime
from livews_auth.upstream.fyers import FyersRefused, FyersUnavailable, token_expiry
from livews_auth.users import FyersCredentials, User
from livews_common.health import readiness
from livews_common.jwks import TokenError
from livews_common.metrics import METRICS_CONTENT_TYPE, render
from livews_common.models import to_builtins

log = logging.getLogger(__name__)

REFRESH_COOKIE = "livews_refresh"
LOGIN_COOKIE = "livews_login"
COOKIE_PATH = "/auth"
MAX_AUTH_CODE = 4096


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
bearer = HTTPBearer(auto_error=False, description="An access JWT from POST /auth/token")


class ErrorBody(BaseModel):
    error: str
    message: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class MeResponse(BaseModel):
    sub: str
    name: str | None
    sid: str
    scope: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


router = APIRouter()


def _set_cookie(rt: Runtime, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, secure=rt.settings.is_prod,
        httponly=True, samesite="lax",
    )  # fmt: skip


def _clear_cookie(rt: Runtime, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, secure=rt.settings.is_prod, httponly=True, samesite="lax"
    )


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _check_origin(rt: Runtime, request: Request) -> None:
    if not rt.proxies.origin_allowed(request, rt.settings.allowed_origins):
        raise CrossSiteRequest()


@router.get(
    "/auth/login",
    status_code=302,
    response_class=RedirectResponse,
    responses=_errors(400, 429, 503),
    summary="Start signing in with Fyers",
)
async def login(
    request: Request,
    rt: RuntimeDep,
    next_path: Annotated[
        str | None, Query(alias="next", description="same-site path to return to")
    ] = "/",
    login_cookie: Annotated[str | None, Cookie(alias=LOGIN_COOKIE)] = None,
) -> Response:
    """302 to Fyers' authorize page with a one-time ``state`` bound to this browser."""
    await rt.limiter.hit("login", rt.proxies.client_ip(request))
    target = safe_next(next_path)
    redirect_uri = rt.settings.fyers_redirect_uri or f"{rt.proxies.origin(request)}/auth/callback"
    nonce = valid_nonce(login_cookie) or rt.logins.new_nonce()
    state = await rt.logins.begin(nonce, target, redirect_uri)
    response = RedirectResponse(rt.fyers.authorize_url(redirect_uri, state), status_code=302)
    _set_cookie(rt, response, LOGIN_COOKIE, nonce, rt.logins.ttl)
    return _no_store(response)


@router.get(
    "/auth/callback",
    status_code=302,
    response_class=RedirectResponse,
    responses=_errors(400, 403, 429, 502, 503),
    summary="Fyers returns here with an authorization code",
)
async def callback(
    request: Request,
    rt: RuntimeDep,
    auth_code: str | None = None,
    state: str | None = None,
    s: Annotated[str | None, Query(description="Fyers' status word (ok/error)")] = None,
    login_cookie: Annotated[str | None, Cookie(alias=LOGIN_COOKIE)] = None,
) -> Response:
    """Check the state once, exchange the code, record the user, start a session."""
    await rt.limiter.hit("login", rt.proxies.client_ip(request))
    user: User | None = None
    try:
        pending = await rt.logins.finish(state, valid_nonce(login_cookie))
        if s == "error" or not auth_code:
            raise InvalidGrant("Fyers did not return an authorization code; sign in again")
        if len(auth_code) > MAX_AUTH_CODE:
            raise InvalidGrant("the authorization code is malformed")
        user, credentials = await _exchange(rt, auth_code)
        if not rt.settings.may_sign_in(user.fy_id):
            raise Forbidden()  # its Fyers tokens are dropped unread and unstored
        # Only the feed account's Fyers tokens are kept; anyone else's die with this request.
        is_feed = await rt.feed.claim(user.fy_id)
        await rt.users.record(user, credentials if is_feed else None)
        if is_feed:
            await rt.feed.adopt(user.fy_id, credentials)
        session, refresh = await rt.sessions.create(user.fy_id, user.name)
    except AuthError as exc:
        rt.metrics.logins.labels(exc.code).inc()
        log.info("sign-in refused", extra={"error": exc.code, "detail": exc.message,
                                           "sub": user.fy_id if user else None})  # fmt: skip
        raise
    rt.metrics.logins.labels("ok").inc()
    log.info("signed in", extra={"sub": user.fy_id, "sid": session.sid})
    response = RedirectResponse(pending.next, status_code=302)
    _set_cookie(rt, response, REFRESH_COOKIE, refresh, rt.sessions.cookie_max_age(session))
    _clear_cookie(rt, response, LOGIN_COOKIE)
    response.headers["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


async def _exchange(rt: Runtime, auth_code: str) -> tuple[User, FyersCredentials]:
    try:
        tokens = await rt.fyers.exchange_code(auth_code)
    except FyersRefused as exc:
        raise InvalidGrant(f"Fyers refused the authorization code (code {exc.code})") from None
    except FyersUnavailable:
        raise UpstreamUnavailable() from None
    try:
        profile = await rt.fyers.profile(tokens.access_token)
    except (FyersRefused, FyersUnavailable):
        raise UpstreamUnavailable("Fyers did not return the user's profile") from None
    now = time.time()
    credentials = FyersCredentials(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=token_expiry(tokens.access_token) or int(now) + 3600,
        updated_at=int(now * 1000),
        refresh_issued_at=int(now * 1000),
    )
    return User(profile.fy_id, profile.name), credentials


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    responses=_errors(401, 403, 429, 503),
    summary="Exchange the refresh cookie for an access token (rotates the cookie)",
)
async def token(
    request: Request,
    rt: RuntimeDep,
    refresh_cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> Response:
    _check_origin(rt, request)
    await rt.limiter.hit("token", rt.proxies.client_ip(request))
    try:
        session, refresh = await rt.sessions.rotate(refresh_cookie)
    except SessionRevoked:
        rt.metrics.refresh_reuse.inc()
        raise
    except SessionExpired:
        rt.metrics.sessions_expired.inc()
        raise
    issued = rt.tokens.issue(
        sub=session.sub, sid=session.sid, name=session.name or None, not_after=session.ends_at
    )
    rt.metrics.tokens_issued.inc()
    body = TokenResponse(access_token=issued.token, expires_in=issued.expires_in)
    response = JSONResponse(body.model_dump())
    _set_cookie(rt, response, REFRESH_COOKIE, refresh, rt.sessions.cookie_max_age(session))
    return _no_store(response)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    responses=_errors(403, 429, 503),
    summary="Revoke this browser's session and clear its cookie",
)
async def logout(
    request: Request,
    rt: RuntimeDep,
    refresh_cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> Response:
    _check_origin(rt, request)
    await rt.limiter.hit("token", rt.proxies.client_ip(request))
    sid = await rt.sessions.logout(refresh_cookie)
    if sid is not None:
        log.info("signed out", extra={"sid": sid})
    response = Response(status_code=204)
    _clear_cookie(rt, response, REFRESH_COOKIE)
    return _no_store(response)


@router.get(
    "/auth/me",
    response_model=MeResponse,
    responses=_errors(401, 503),
    summary="Who this access token belongs to",
)
async def me(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> MeResponse:
    if credentials is None:
        raise Unauthorized("send Authorization: Bearer <access token>")
    try:
        claims = rt.tokens.verify(credentials.credentials)
    except TokenError as exc:
        raise Unauthorized(f"access token refused: {exc.reason}") from None
    if await rt.sessions.is_revoked(claims.sid):
        raise SessionRevoked()
    return MeResponse(sub=claims.sub, name=claims.name, sid=claims.sid, scope=claims.scope)


@router.get("/auth/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(rt: RuntimeDep) -> Response:
    response = JSONResponse(rt.keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; the body says why"}})
async def readyz(rt: RuntimeDep) -> Response:
    """200 when Redis answers; the feed-token custody state is always included.

    A failing feed renewal makes this 503 only with ``AUTH_READY_REQUIRES_FEED=true``:
    taking every auth replica out of rotation would also block the sign-in that fixes it.
    """
    try:
        await rt.redis.ping()
        state = await rt.feed.state()
    except RedisError as exc:
        body, status = readiness(
            False, f"redis unreachable ({type(exc).__name__})", {"redis": "down"}
        )
        return JSONResponse(body, status_code=status)
    feed = to_builtins(state) if state is not None else None
    feed_ok = bool(state and state.ok)
    ready = feed_ok or not rt.settings.ready_requires_feed
    reason = None
    if not feed_ok:
        why = state.reason if state and state.reason else "feed token state unknown"
        reason = f"feed token: {why}"
        if state and state.action:
            reason += f" (to fix: {state.action})"
    body, status = readiness(ready, reason, {"redis": "ok", "feed": feed})
    return JSONResponse(body, status_code=status)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(rt: RuntimeDep) -> Response:
    return Response(render(rt.metrics.registry), media_type=METRICS_CONTENT_TYPE)
