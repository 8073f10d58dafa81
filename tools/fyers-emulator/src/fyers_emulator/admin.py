"""Fault controls under /admin (all POST, answering ``{"ok": true}``), plus state and reset.

Semantics are CONTRACT §5's; docs/emulator.md has the details and examples.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fyers_emulator.errors import BadRequest
from fyers_emulator.faults import AuthScope
from fyers_emulator.runtime import Runtime, json_response, runtime
from livews_common.market import MARKET_STATES

OK = {"ok": True}


def _number(request: Request, name: str, *, minimum: float, default: float | None = None) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise BadRequest(f"Missing query parameter: {name}")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not math.isfinite(value) or value < minimum:
        raise BadRequest(f"{name} must be a number >= {minimum:g}")
    return value


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"{name} must be true or false")


async def drop(request: Request, rt: Runtime) -> None:
    symbol = request.query_params.get("symbol")  # only the socket(s) carrying this symbol
    if symbol:
        rt.feed.drop_holding(symbol)
    else:
        rt.feed.drop_all()


async def stall(request: Request, rt: Runtime) -> None:
    rt.faults.stall(_number(request, "seconds", minimum=0))


async def garbage(request: Request, rt: Runtime) -> None:
    count = int(_number(request, "count", minimum=1, default=1))
    rt.feed.inject_garbage(min(count, 10_000))


async def expire_tokens(request: Request, rt: Runtime) -> None:
    rt.tokens.expire_access_tokens()
    rt.feed.close_expired()


async def refuse_auth(request: Request, rt: Runtime) -> None:
    scopes: dict[str, AuthScope] = {"all": "all", "socket": "socket", "rest": "rest"}
    scope = scopes.get(request.query_params.get("scope", "all"))
    if scope is None:
        raise BadRequest("scope must be all, socket or rest")
    rt.faults.refuse_auth(_flag(request, "on", True), scope)


async def rate(request: Request, rt: Runtime) -> None:
    rt.faults.rate = _number(request, "ticks_per_second", minimum=0)


async def burst(request: Request, rt: Runtime) -> None:
    factor = _number(request, "factor", minimum=0)
    rt.faults.burst(factor, _number(request, "seconds", minimum=0))


async def invalid_symbol(request: Request, rt: Runtime) -> None:
    symbol = request.query_params.get("symbol", "")
    if not symbol:
        raise BadRequest("Missing query parameter: symbol")
    rt.faults.set_invalid(symbol, _flag(request, "on", True))


async def market(request: Request, rt: Runtime) -> None:
    """``state=pre_open|open|closed`` forces the session; ``state=calendar`` follows the clock."""
    raw = request.query_params.get("state", "")
    if raw == "calendar":
        rt.faults.market.override = None
        return
    for state in MARKET_STATES:
        if raw == state:
            rt.faults.market.override = state
            return
    raise BadRequest("state must be pre_open, open, closed or calendar")


async def clock(request: Request, rt: Runtime) -> None:
    """``speed=F`` (the market clock runs F× faster) and optionally ``at=<ISO 8601>`` (from)."""
    speed = _number(request, "speed", minimum=0, default=rt.faults.market.speed)
    if speed <= 0:
        raise BadRequest("speed must be a number > 0")
    raw = request.query_params.get("at")
    start = None
    if raw is not None:
        try:
            start = datetime.fromisoformat(raw)
        except ValueError:
            raise BadRequest("at must be an ISO 8601 date and time") from None
    rt.faults.market.set(start=start, speed=speed)


async def reset(request: Request, rt: Runtime) -> None:
    rt.faults.reset()


def _action(name: str, fn: Callable[[Request, Runtime], Awaitable[None]]) -> Route:
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        await fn(request, rt)
        rt.metrics.faults.labels(name).inc()
        return json_response(OK)

    return Route(f"/admin/{name}", endpoint, methods=["POST"], name=f"admin-{name}")


async def state(request: Request) -> Response:
    """GET /admin/state: the current faults and sockets, for people debugging a test."""
    rt = runtime(request)
    f = rt.faults
    return json_response(
        {
            "rate": f.rate,
            "current_rate": f.current_rate(),
            "stalled": f.stalled(),
            "refuse_socket_auth": f.refuse_socket_auth,
            "refuse_rest_auth": f.refuse_rest_auth,
            "invalid_symbols": sorted(f.invalid_symbols),
            "market": f.market.state(),
            "market_forced": f.market.override is not None,
            "market_time": f.market.now().isoformat(),
            "clock_speed": f.market.speed,
            "sockets": len(rt.feed.sessions),
            "subscribed_topics": sum(s.topic_count for s in rt.feed.sessions),
        }
    )


def routes() -> list[Route]:
    actions: dict[str, Callable[[Request, Runtime], Awaitable[None]]] = {
        "drop": drop,
        "stall": stall,
        "garbage": garbage,
        "expire-tokens": expire_tokens,
        "refuse-auth": refuse_auth,
        "rate": rate,
        "burst": burst,
        "invalid-symbol": invalid_symbol,
        "market": market,
        "clock": clock,
        "reset": reset,
    }
    return [
        *(_action(name, fn) for name, fn in actions.items()),
        Route("/admin/state", state, methods=["GET"], name="admin-state"),
    ]
