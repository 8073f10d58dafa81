"""The Starlette application: routes, error envelope and the lifespan that owns the feed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from fyers_emulator import admin, oauth, rest
from fyers_emulator.errors import BadRequest, EmulatorError, MethodNotAllowed, NotFound
from fyers_emulator.faults import Faults
from fyers_emulator.hsm.feed import Feed
from fyers_emulator.hsm.server import hsm_endpoint
from fyers_emulator.market import Market
from fyers_emulator.metrics import CONTENT_TYPE, Metrics
from fyers_emulator.runtime import Runtime, json_response, runtime
from fyers_emulator.settings import Settings
from fyers_emulator.tokens import TokenService
from fyers_emulator.universe import INSTRUMENTS
from livews_common.health import readiness

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    running = runtime(request).feed.running
    body, status = readiness(running, None if running else "feed not running",
                             {"feed": "running" if running else "stopped"})  # fmt: skip
    return json_response(body, status)


async def metrics(request: Request) -> Response:
    return Response(runtime(request).metrics.render(), media_type=CONTENT_TYPE)


async def _emulator_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EmulatorError)
    runtime(request).metrics.rest_errors.labels(str(exc.code)).inc()
    return json_response(exc.envelope(), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: EmulatorError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    else:
        error = BadRequest(str(exc.detail))
    return await _emulator_error(request, error)


def build_runtime(settings: Settings) -> Runtime:
    metrics_ = Metrics()
    tokens = TokenService(settings)
    faults = Faults(default_rate=settings.ticks_per_second)
    market = Market(INSTRUMENTS, settings.seed)
    feed = Feed(
        market, tokens, faults, metrics_, batch_interval=settings.batch_interval, seed=settings.seed
    )
    return Runtime(settings, tokens, faults, metrics_, feed)


def create_app(settings: Settings) -> Starlette:
    """A fresh emulator; its feed runs from lifespan start to shutdown."""
    rt = build_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(rt.feed.run(), name="fyers-emulator-feed")
        log.info("fyers-emulator ready: client_id=%s", settings.client_id)
        try:
            yield
        finally:
            rt.feed.drop_all()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [
        Route("/api/v3/generate-authcode", oauth.generate_authcode, methods=["GET"]),
        Route("/api/v3/validate-authcode", oauth.validate_authcode, methods=["POST"]),
        Route("/api/v3/validate-refresh-token", oauth.validate_refresh_token, methods=["POST"]),
        Route("/api/v3/profile", rest.profile, methods=["GET"]),
        Route("/data/symbol-token", rest.symbol_token, methods=["POST"]),
        Route("/sym_details/index_hsm_mapping.json", rest.index_hsm_mapping, methods=["GET"]),
        WebSocketRoute("/hsm/v1-5/prod", hsm_endpoint),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={EmulatorError: _emulator_error, HTTPException: _http_error},
    )
    app.state.runtime = rt
    return app
