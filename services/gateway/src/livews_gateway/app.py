"""The ASGI application: ``create_app(settings)`` builds it, its lifespan runs it.

Routes: ``/socket.io/`` (Socket.IO, CONTRACT §3), ``/healthz``, ``/readyz``, ``/metrics``.
Every new Socket.IO session passes admission first (``admission.py``): refused with 503
when draining or at the authorized connection limit, with 429 over a per-address limit.
Nothing connects at construction; the lifespan opens Redis and the JWKS client, starts the
gateway's tasks and the admission sweeper, and closes everything on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from livews_common.health import readiness
from livews_common.metrics import METRICS_CONTENT_TYPE, render
from livews_gateway.admission import Admission, Ticket, client_address
from livews_gateway.bus import Bus, MessageHandler, StateHandler
from livews_gateway.gateway import BusFactory, Gateway
from livews_gateway.handlers import register
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.redis_bus import RedisBus
from livews_gateway.redis_store import RedisStore
from livews_gateway.settings import MAX_INBOUND_MESSAGE_BYTES, GatewaySettings
from livews_gateway.store import Store
from livews_gateway.tokens import JwksTokenVerifier, TokenVerifier
from livews_gateway.transport.engine import TICKET_SCOPE_KEY, ASGIApp, GatewaySocketIO
from livews_gateway.transport.server import inbound_budget

SOCKETIO_PATH = "/socket.io/"


class GatewayApp:
    """The top-level ASGI callable: admission control in front of Socket.IO and the routes."""

    def __init__(self, gateway: Gateway, inner: ASGIApp, admission: Admission) -> None:
        self.gateway = gateway
        self.admission = admission
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] in ("http", "websocket") and _is_new_session(scope)):
            await self._inner(scope, receive, send)
            return
        ticket = self._admit(scope)
        if not isinstance(ticket, Ticket):
            self.gateway.metrics.refused_handshakes.labels(ticket).inc()
            status = 429 if ticket.startswith("address") else 503
            await _refuse(scope, receive, send, ticket, status)
            return
        scope[TICKET_SCOPE_KEY] = ticket
        try:
            await self._inner(scope, receive, send)
        finally:
            # A websocket session ends with this call; a long-polling one outlives its
            # handshake request and is released by Engine.IO's disconnect (transport/).
            if scope["type"] == "websocket" or ticket.eio_sid is None:
                self.admission.release(ticket)

    def _admit(self, scope: Scope) -> Ticket | str:
        gateway = self.gateway
        if gateway.draining:
            return "draining"
        # Only authorized clients count toward the limit; pending ones have their own cap.
        if len(gateway.clients) >= gateway.settings.max_connections:
            return "full"
        peer = scope.get("client")
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name == b"x-forwarded-for"
        ]
        address = client_address(
            peer[0] if peer else None, forwarded, gateway.settings.trusted_proxies
        )
        return self.admission.admit(address)


def _is_new_session(scope: Scope) -> bool:
    """A Socket.IO handshake (no Engine.IO ``sid`` yet), as opposed to a request of a session."""
    path: str = scope.get("path", "")
    if not (path + "/").startswith(SOCKETIO_PATH):
        return False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return "sid" not in query


async def _refuse(scope: Scope, receive: Receive, send: Send, reason: str, status: int) -> None:
    error = "too_many_requests" if status == 429 else "unavailable"
    body = json.dumps({"error": error, "message": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        if "websocket.http.response" in (scope.get("extensions") or {}):
            start = {"type": "websocket.http.response.start", "status": status}
            await send({**start, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1013})
        return
    await Response(
        body, status_code=status, headers={"retry-after": "1"}, media_type="application/json"
    )(scope, receive, send)


def _redis_bus_factory(url: str) -> BusFactory:
    def build(on_message: MessageHandler, on_up: StateHandler, on_down: StateHandler) -> Bus:
        return RedisBus(url, on_message, on_up, on_down)

    return build


def build_admission(settings: GatewaySettings) -> Admission:
    return Admission(
        max_pending=settings.max_pending,
        pending_seconds=settings.pending_seconds,
        address_max_connections=settings.address_max_connections,
        address_handshake_rate=settings.address_handshake_rate,
        address_handshake_burst=settings.address_handshake_burst,
    )


def build_socketio(settings: GatewaySettings) -> GatewaySocketIO:
    both = set(settings.transports) == {"websocket", "polling"}
    return GatewaySocketIO(
        async_mode="asgi",
        async_handlers=False,  # a client's events run in order, one at a time
        cors_allowed_origins=settings.cors_allowed,
        transports=settings.transports,
        allow_upgrades=both,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_http_buffer_size=MAX_INBOUND_MESSAGE_BYTES,
        logger=False,
        engineio_logger=False,
    )


def create_app(
    settings: GatewaySettings,
    *,
    store: Store | None = None,
    bus_factory: BusFactory | None = None,
    verifier: TokenVerifier | None = None,
    metrics: GatewayMetrics | None = None,
) -> GatewayApp:
    """The gateway's ASGI app. Anything not given is built from ``settings``."""
    metrics = metrics or GatewayMetrics()
    http: httpx.AsyncClient | None = None
    if verifier is None:
        http = httpx.AsyncClient(timeout=5.0)
        verifier = JwksTokenVerifier(settings.jwks_url, http, leeway=settings.jwt_leeway)
    redis_store: RedisStore | None = None
    if store is None:
        store = redis_store = RedisStore(settings.redis_url)
    sio = build_socketio(settings)
    gateway = Gateway(
        settings,
        sio=sio,
        store=store,
        bus_factory=bus_factory or _redis_bus_factory(settings.redis_url),
        verifier=verifier,
        metrics=metrics,
    )
    register(sio, gateway)
    admission = build_admission(settings)
    admission.on_close = lambda why: metrics.pending_closed.labels(why).inc()
    sio.admission = admission
    sio.on_refused = lambda why: metrics.inbound_refused.labels(why).inc()
    if settings.inbound_message_rate:
        sio.budget_factory = lambda: inbound_budget(settings)
    metrics.watch_pending(lambda: admission.pending)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            async with gateway.running(), _running(admission):
                yield
            await sio.shutdown()
        finally:
            if http is not None:
                await http.aclose()
            if redis_store is not None:
                await redis_store.aclose()

    async def healthz(_request: Request) -> Response:
        if gateway.failed:
            return JSONResponse({"status": "failed", "reason": gateway.failed}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        ready, reason = gateway.ready
        live = gateway.live_counts()
        body, status = readiness(
            ready,
            reason,
            {
                "redis": "ok" if live.redis_up else "down",
                "connections": live.connections,
                "max_connections": settings.max_connections,
                "draining": live.draining,
            },
        )
        return JSONResponse(body, status_code=status)

    async def metrics_route(_request: Request) -> Response:
        return Response(render(metrics.registry), media_type=METRICS_CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_route),
    ]
    http_app = Starlette(routes=routes, lifespan=lifespan)
    inner = ASGIApp(sio, other_asgi_app=http_app, socketio_path=SOCKETIO_PATH.strip("/"))
    return GatewayApp(gateway, inner, admission)


@contextlib.asynccontextmanager
async def _running(admission: Admission) -> AsyncIterator[None]:
    """The admission sweeper (pending deadlines) for the duration of the block."""
    task = asyncio.create_task(admission.run(), name="gateway:admission")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
