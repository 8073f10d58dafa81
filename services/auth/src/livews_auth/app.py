"""``create_app(settings)``: the FastAPI app, its lifespan, and errors mapped to JSON.

Configuration that can be checked without I/O (keys, the token cipher) is loaded here, so a
bad key stops ``create_app`` before the server listens. Everything that opens a connection
or runs in the background — Redis, the httpx client, the feed custodian — belongs to the
lifespan, which closes it in reverse order and awaits the cancelled task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisClusterException, RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livews_auth import oauth
from livews_auth.api import COOKIE_PATH, REFRESH_COOKIE, router
from livews_auth.clients import ClientRegistry
from livews_auth.errors import AuthError, Unavailable
from livews_auth.feed import FeedCustodian
from livews_auth.keys import KeyRing, load_keyring
from livews_auth.logins import LoginStore
from livews_auth.metrics import AuthMetrics, RequestMetrics
from livews_auth.proxies import ProxyPolicy
from livews_auth.ratelimit import RateLimiter
from livews_auth.runtime import Runtime
from livews_auth.sessions import SessionStore
from livews_auth.settings import AuthSettings
from livews_auth.tokens import TokenIssuer
from livews_auth.upstream.fyers import FyersClient
from livews_auth.users import UserStore
from livews_common import redisconn
from livews_common.feedtoken import TokenCipher, load_token_cipher

log = logging.getLogger(__name__)

_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(settings: AuthSettings, *, metrics: AuthMetrics | None = None) -> FastAPI:
    """The auth app for ``settings``; nothing connects until the lifespan starts."""
    keys = load_keyring(
        settings.signing_key.get_secret_value() if settings.signing_key else None,
        settings.verify_keys,
        prod=settings.is_prod,
        state_dir=settings.state_dir,
    )
    cipher = load_token_cipher(settings.livews_env, settings.state_dir)
    clients = ClientRegistry(settings.clients_file)  # a bad file stops the start, named
    metrics = metrics or AuthMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.fyers_timeout, connect=min(5.0, settings.fyers_timeout))
        async with (
            redisconn.connect(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=3,
                health_check_interval=30,
            ) as redis,
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, headers={"User-Agent": "livews-auth"}
            ) as http,
        ):  # fmt: skip
            runtime = _build(settings, keys, cipher, metrics, redis, http, clients)
            app.state.runtime = runtime
            custody = asyncio.create_task(runtime.feed.run(), name="feed-custody")
            log.info(
                "auth ready",
                extra={"env": settings.livews_env, "kids": ",".join(keys.kids),
                       "feed_account": settings.feed_account or "(first sign-in)"},
            )  # fmt: skip
            try:
                yield
            finally:
                custody.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await custody

    app = FastAPI(
        title="LiveWebsocket auth",
        version="1",
        summary="Fyers sign-in, access JWTs (JWKS), refresh sessions, feed-token custody.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(oauth.router)
    _install_error_handlers(app)
    app.add_middleware(AccessLog)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: times everything
    return app


def _build(
    settings: AuthSettings,
    keys: KeyRing,
    cipher: TokenCipher,
    metrics: AuthMetrics,
    redis: aioredis.Redis,
    http: httpx.AsyncClient,
    clients: ClientRegistry,
) -> Runtime:
    fyers = FyersClient(
        http,
        api_base=settings.fyers_api_base,
        client_id=settings.client_id,
        secret_key=settings.secret_key,
        retries=settings.fyers_retries,
        observe=metrics.observe_fyers,
    )
    users = UserStore(redis, cipher)
    return Runtime(
        settings=settings,
        metrics=metrics,
        redis=redis,
        fyers=fyers,
        keys=keys,
        tokens=TokenIssuer(keys, ttl=settings.access_ttl, leeway=settings.jwt_leeway),
        sessions=SessionStore(
            redis,
            refresh_ttl=settings.refresh_ttl,
            access_ttl=settings.access_ttl,
            max_age=settings.session_max_age,
            mac_key=cipher.derive("auth-session-mac"),
            on_forged=metrics.sessions_forged.inc,
            on_revoke=lambda reason: metrics.sessions_revoked.labels(reason).inc(),
        ),
        logins=LoginStore(redis, ttl=settings.login_ttl),
        users=users,
        feed=FeedCustodian(redis, fyers, users, cipher, settings=settings, metrics=metrics),
        limiter=RateLimiter(
            redis,
            limits={
                "login": settings.rate_login,
                "token": settings.rate_token,
                oauth.FAILURES_BUCKET: settings.rate_client_failures,
            },
            window=settings.rate_window,
            on_limited=lambda bucket: metrics.rate_limited.labels(bucket).inc(),
        ),
        proxies=ProxyPolicy(settings.trusted_proxies),
        clients=clients,
        client_ttl=settings.client_token_ttl,
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        response: JSONResponse = _error(exc.status, exc.code, exc.message, exc.headers())
        if exc.clears_refresh_cookie:
            prod = request.app.state.runtime.settings.is_prod
            response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, secure=prod, httponly=True,
                                   samesite="lax")  # fmt: skip
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_input(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        response: JSONResponse = _error(400, "bad_request", f"invalid {where or 'request'}")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else
                                 "internal")  # fmt: skip
        response: JSONResponse = _error(
            exc.status_code, code, str(exc.detail), dict(exc.headers) if exc.headers else None
        )
        return response

    @app.exception_handler(RedisError)
    @app.exception_handler(RedisClusterException)  # a Cluster without a slot's primary for now
    async def redis_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("request failed: Redis unavailable", extra={"error": type(exc).__name__})
        err = Unavailable()
        response: JSONResponse = _error(err.status, err.code, err.message, err.headers())
        return response


class AccessLog:
    """One DEBUG line per request: method, path (never the query: it carries codes), status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.debug(
                "request",
                extra={"method": scope["method"], "path": scope["path"], "status": status,
                       "ms": round((time.perf_counter() - started) * 1000, 2)},
            )  # fmt: skip
