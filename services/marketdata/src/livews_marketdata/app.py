"""The HTTP face of the ingestor (Starlette): ``/healthz``, ``/readyz``, ``/metrics``.

``create_app(settings)`` builds everything in its lifespan: the Redis client, the HTTP
client, the token cipher and the :class:`~livews_marketdata.ingestor.Ingestor`, whose ``run``
is the one background task; shutdown stops it within :data:`SHUTDOWN_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livews_common import redisconn
from livews_common.feedtoken import TokenCipher, load_token_cipher
from livews_common.health import readiness
from livews_common.metrics import METRICS_CONTENT_TYPE, render
from livews_marketdata.ingestor import Ingestor
from livews_marketdata.metrics import Metrics
from livews_marketdata.settings import MarketdataSettings

log = logging.getLogger(__name__)

#: How long shutdown may take (SIGTERM must end the process within 15 s, uvicorn included).
SHUTDOWN_SECONDS = 9.0


def redis_client(url: str) -> aioredis.Redis:
    """The ingestor's Redis client: short timeouts, one quick retry, our own loops do the rest."""
    return redisconn.connect(
        url,
        socket_timeout=5.0,
        socket_connect_timeout=2.0,
        retry=Retry(ConstantBackoff(0.05), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=0,
    )


def token_cipher(settings: MarketdataSettings) -> TokenCipher | None:
    """The cipher for auth's sealed feed token; None when it is not needed."""
    if settings.source == "replay" or settings.access_token() is not None:
        return None
    return load_token_cipher(settings.livews_env, settings.state_dir)


def create_app(settings: MarketdataSettings, *, metrics: Metrics | None = None) -> Starlette:
    """A fresh ingestor app; nothing starts until its lifespan does."""
    metrics = metrics or Metrics()
    holder: dict[str, tuple[Ingestor, asyncio.Task[None]]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.check()
        cipher = token_cipher(settings)
        redis = redis_client(settings.redis_url)
        try:
            async with httpx.AsyncClient(follow_redirects=False) as http:
                ingestor = Ingestor(settings, redis, http, metrics, cipher=cipher)
                task = asyncio.create_task(ingestor.run(), name="ingestor")
                holder["ingestor"] = (ingestor, task)
                log.info(
                    "marketdata starting",
                    extra={"instance": ingestor.instance, "source": settings.source},
                )
                try:
                    yield
                finally:
                    await ingestor.shutdown(task, SHUTDOWN_SECONDS)
                    log.info("marketdata stopped")
        finally:
            await redis.aclose()

    def current() -> tuple[Ingestor, asyncio.Task[None]] | None:
        return holder.get("ingestor")

    async def healthz(request: Request) -> Response:
        found = current()
        if found is not None and found[1].done():
            return JSONResponse({"status": "failed", "reason": "the ingestor loop ended"}, 503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        found = current()
        if found is None:
            return JSONResponse(*readiness(False, "starting"))
        ingestor = found[0]
        ready, reason = ingestor.readiness()
        checks = {
            "redis": "ok" if ingestor.redis_usable else "down",
            "role": ingestor.role,
            "instance": ingestor.instance,
            "upstream": ingestor.upstream[0],
        }
        return JSONResponse(*readiness(ready, reason, checks))

    async def metrics_endpoint(request: Request) -> Response:
        return Response(render(metrics.registry), media_type=METRICS_CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    return app
