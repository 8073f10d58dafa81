"""The Fyers supervisor against an in-memory upstream (no network, no SDK threads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from livews_common.models import Depth, Tick, UpstreamState
from livews_marketdata.demand import MemoryDemand
from livews_marketdata.metrics import Metrics
from livews_marketdata.tokens import Credential, EnvTokenSource
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.fyers import FyersConfig, FyersSource, fit_limit
from livews_marketdata.verdicts import VerdictBoard

WATCH = ("NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:NIFTY50-INDEX")
UNKNOWN = "NSE:NOPE-EQ"


class FakeConnection:
    """Behaves like the emulator through the SDK: auth reply, a snapshot per subscription."""

    def __init__(self, up: FakeUpstream, bridge: Bridge, generation: int) -> None:
        self.up, self.bridge, self.generation = up, bridge, generation
        self.quotes: set[str] = set()
        self.depth: set[str] = set()
        self.closed = False

    async def open(self) -> None:
        self.up.opened.append(self)
        reply = self.up.auth_reply
        self.bridge.push_control(self.generation, reply[0], reply[1])

    async def subscribe(self, symbols: list[str], data_type: str) -> None:
        (self.quotes if data_type == "SymbolUpdate" else self.depth).update(symbols)
        for s in symbols:
            self.send(s)

    async def unsubscribe(self, symbols: list[str], data_type: str) -> None:
        (self.quotes if data_type == "SymbolUpdate" else self.depth).difference_update(symbols)

    async def close(self, grace: float = 3.0) -> None:
        self.closed = True

    def send(self, symbol: str, ltp: float = 100.0) -> None:
        kind = "if" if symbol.endswith("-INDEX") else "sf"
        self.bridge.push_data(self.generation, {"type": kind, "symbol": symbol, "ltp": ltp})

    def drop(self) -> None:
        self.bridge.push_control(self.generation, "close", {"code": 200})


class FakeUpstream:
    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []
        self.auth_reply: tuple[str, Any] = ("message", {"type": "cn", "code": 200})

    def connect(self, credential: Credential, bridge: Bridge, generation: int) -> FakeConnection:
        return FakeConnection(self, bridge, generation)

    @property
    def current(self) -> FakeConnection:
        return self.opened[-1]


class FakeResolver:
    async def resolve(self, symbols: list[str], token: str) -> dict[str, bool]:
        return {s: s != UNKNOWN for s in symbols}


class Sink:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.states: list[tuple[UpstreamState, str | None, int]] = []
        self.event = asyncio.Event()

    async def deliver(self, ticks: list[Tick], depth: list[Depth]) -> None:
        self.ticks.extend(ticks)
        self.event.set()

    def set_state(self, state: UpstreamState, reason: str | None, symbols: int) -> None:
        self.states.append((state, reason, symbols))
        self.event.set()

    async def until(self, predicate: Callable[[], Any], limit: float = 5.0) -> Any:
        async with asyncio.timeout(limit):
            while not (result := predicate()):
                self.event.clear()
                await self.event.wait()
        return result


class Harness:
    def __init__(self, **config: Any) -> None:
        self.up = FakeUpstream()
        self.metrics = Metrics()
        self.tokens = EnvTokenSource("APP-100:token")
        self.demand = MemoryDemand(WATCH)
        self.verdicts = VerdictBoard(None, self.metrics)
        self.sink = Sink()
        self.source = FyersSource(
            FyersConfig(ws_url="ws://unused", backoff_base=0.01, backoff_max=0.05,
                        watchlist=WATCH, **config),
            tokens=self.tokens, demand=self.demand, verdicts=self.verdicts,
            resolver=FakeResolver(),  # type: ignore[arg-type]
            metrics=self.metrics, connect=self.up.connect,
        )  # fmt: skip

    def reconnects(self, reason: str) -> float:
        value: float = self.metrics.reconnects.labels(reason)._value.get()
        return value


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    h = Harness(**getattr(request, "param", {}))
    task = asyncio.create_task(h.source.run(h.sink))
    try:
        yield h
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def config(**overrides: Any) -> pytest.MarkDecorator:
    """FyersConfig overrides for the ``harness`` fixture."""
    return pytest.mark.parametrize("harness", [overrides], indirect=True, ids=[""])


async def test_connects_subscribes_and_delivers(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: {t.symbol for t in h.sink.ticks} >= set(WATCH))
    assert h.up.current.quotes == set(WATCH) and h.up.current.depth == set()
    assert h.sink.states[-1] == ("up", None, 3)
    assert all(h.verdicts.known[s].ok for s in WATCH)


async def test_a_drop_rebuilds_and_resubscribes_everything(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: len(h.sink.ticks) >= 3)
    first = h.up.current
    first.drop()
    await h.sink.until(lambda: len(h.up.opened) == 2 and h.up.current.quotes == set(WATCH))
    assert first.closed and h.reconnects("dropped") == 1
    # Anything the old connection still says is ignored.
    first.send("NSE:SBIN-EQ", 1.0)
    h.up.current.send("NSE:SBIN-EQ", 2.0)
    await h.sink.until(lambda: h.sink.ticks[-1].ltp == 2.0)
    assert all(t.ltp != 1.0 for t in h.sink.ticks)


@config(stall_seconds=0.3)
async def test_a_stall_is_detected(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: h.reconnects("stall") >= 1)
    assert any(s[0] == "degraded" and "no data" in (s[1] or "") for s in h.sink.states)
    await h.sink.until(lambda: len(h.up.opened) >= 2)  # rebuilt after the backoff


async def test_token_expiry_waits_for_a_new_token(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: h.sink.states and h.sink.states[-1][0] == "up")
    h.up.current.bridge.push_control(
        h.up.current.generation, "error", {"type": "cn", "code": -99, "message": "Token is expired"}
    )
    await h.sink.until(lambda: h.sink.states[-1][0] == "down")
    assert "FYERS_ACCESS_TOKEN is no longer accepted" in (h.sink.states[-1][1] or "")
    assert h.reconnects("token_expired") == 1
    assert len(h.up.opened) == 1  # no point reconnecting with the same expired token


async def test_refused_auth_backs_off_and_says_down(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: h.sink.states and h.sink.states[-1][0] == "up")
    h.up.auth_reply = ("error", {"type": "cn", "code": 11001, "message": "Authentication failed"})
    h.up.current.drop()
    await h.sink.until(lambda: h.sink.states[-1][0] == "down")  # the env token is now refused


async def test_demand_changes_are_applied_on_the_live_connection(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: h.sink.states and h.sink.states[-1][0] == "up")
    h.demand.set(quote=["NSE:TCS-EQ", UNKNOWN], depth=["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"])
    await h.sink.until(lambda: "NSE:TCS-EQ" in h.up.current.quotes)
    await h.sink.until(lambda: h.up.current.depth == {"NSE:SBIN-EQ"})  # never an index
    assert UNKNOWN not in h.up.current.quotes
    assert h.verdicts.known[UNKNOWN].ok is False and h.verdicts.known["NSE:TCS-EQ"].ok
    await h.sink.until(lambda: h.sink.states[-1] == ("up", None, 4))
    h.demand.set()
    await h.sink.until(lambda: h.up.current.quotes == set(WATCH) and not h.up.current.depth)
    assert len(h.up.opened) == 1


@config(symbol_limit=4)
async def test_the_symbol_limit_refuses_with_a_clear_verdict(harness: Harness) -> None:
    h = harness
    await h.sink.until(lambda: h.sink.states and h.sink.states[-1][0] == "up")
    h.demand.set(quote=["NSE:TCS-EQ", "NSE:WIPRO-EQ"], depth=["NSE:SBIN-EQ"])
    await h.sink.until(lambda: len(h.up.current.quotes) + len(h.up.current.depth) == 4)
    refused = [v for v in h.verdicts.known.values() if not v.ok]
    assert refused and all("limit of 4" in (v.message or "") for v in refused)
    assert set(WATCH) <= h.up.current.quotes  # the watchlist keeps its place


def test_fit_limit_keeps_current_then_watchlist() -> None:
    quote, depth, refused = fit_limit(
        {"A", "B", "C", "D"}, {"A"}, current_quote={"D"}, current_depth=set(),
        watchlist=["C"], limit=3,
    )  # fmt: skip
    assert quote == {"D", "C", "A"} and depth == set() and refused == {"B"}
    assert fit_limit({"A"}, {"A"}, current_quote=set(), current_depth=set(), watchlist=[],
                     limit=5) == ({"A"}, {"A"}, set())  # fmt: skip
