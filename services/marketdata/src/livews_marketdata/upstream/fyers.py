"""The Fyers upstream: one socket at a time, supervised (our HSM client, or the SDK's).

:class:`FyersSource` owns the connection's whole life. Per connection it waits for a token,
opens the socket and waits for the server's auth reply, resolves every wanted symbol
(publishing verdicts), subscribes quotes and depth, and then watches for what ends a
connection:

- the socket closed (a drop) or an error the SDK reported;
- a **stall**: no data for ``MARKETDATA_STALL_SECONDS``;
- the token **expired** (Fyers code -99, on the socket or from symbol-token): the token is
  reported (auth is asked to renew it) and the next connection waits for a new one;
- a **new token** from the auth service: a clean reconnect with it;
- a call into the SDK that never returns (abandoned with its thread).

Each teardown is followed by a rebuild that resubscribes everything, after a jittered
exponential backoff (reset once a connection delivered data). Demand changes while connected
are applied as batched subscribe/unsubscribe calls. The SDK's own reconnect is off; "its
retries exhausted" cannot happen, ours never give up (the state turns ``down`` after three
failures in a row and says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from livews_common.models import UpstreamState
from livews_marketdata.backoff import Backoff
from livews_marketdata.demand import DemandSource
from livews_marketdata.errors import AuthRefused, TokenExpired, UpstreamError
from livews_marketdata.metrics import Children, Metrics
from livews_marketdata.normalize import Normalizer
from livews_marketdata.resolve import SymbolResolver
from livews_marketdata.tokens import Credential, NoToken, TokenSource
from livews_marketdata.upstream import FeedSink
from livews_marketdata.upstream.bridge import Bridge, ControlEvent
from livews_marketdata.upstream.hsm.protocol import DEPTH, QUOTES
from livews_marketdata.verdicts import VerdictBoard, verdict

log = logging.getLogger(__name__)

TOKEN_POLL_SECONDS = 5.0
DOWN_AFTER_FAILURES = 3
UNKNOWN_SYMBOL = "unknown to the upstream (symbol-token refused it)"
#: symbol-token answers kept per connection before those for symbols not wanted are dropped.
RESOLVED_CAP = 20_000


class Connection(Protocol):
    """One upstream socket (the SDK's, or a test double)."""

    async def open(self) -> None: ...

    async def subscribe(self, symbols: list[str], data_type: str) -> None: ...

    async def unsubscribe(self, symbols: list[str], data_type: str) -> None: ...

    async def close(self, grace: float = 3.0) -> None: ...


ConnectionFactory = Callable[[Credential, Bridge, int], Connection]


@dataclass(frozen=True)
class FyersConfig:
    """The supervisor's knobs (from :class:`~livews_marketdata.settings.MarketdataSettings`)."""

    ws_url: str
    stall_seconds: float = 20.0
    connect_timeout: float = 10.0
    call_timeout: float = 15.0
    symbol_limit: int = 5000
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    watchlist: tuple[str, ...] = ()


@dataclass
class Outcome:
    """Why a connection ended."""

    reason: str  # metric label: dropped, stall, token_expired, token_changed, auth_refused, …
    detail: str
    delivered: bool = False  # data flowed on it (then the backoff starts over)


class _Ended(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def describe(payload: Any) -> str:
    """A short text of an SDK callback payload for reasons and logs."""
    if isinstance(payload, dict):
        code, message = payload.get("code"), payload.get("message")
        return f"{message} ({code})" if code is not None else str(message)
    if isinstance(payload, BaseException):
        return f"{type(payload).__name__}: {payload}"
    return str(payload)[:200]


def fit_limit(
    quote: set[str],
    depth: set[str],
    *,
    current_quote: set[str],
    current_depth: set[str],
    watchlist: Iterable[str],
    limit: int,
) -> tuple[set[str], set[str], set[str]]:
    """Trim to ``limit`` topics (a quote and a depth subscription are one topic each).

    Keeps what is already subscribed, then the watchlist's quotes, then the rest in symbol
    order; returns ``(quote, depth, refused symbols)`` — a symbol counts as refused unless
    its quotes are kept.
    """
    if len(quote) + len(depth) <= limit:
        return quote, depth, set()
    order: list[tuple[str, str]] = []
    order += [("q", s) for s in sorted(quote & current_quote)]
    order += [("d", s) for s in sorted(depth & current_depth)]
    order += [("q", s) for s in watchlist if s in quote and s not in current_quote]
    rest = [("q", s) for s in sorted(quote - current_quote)]
    rest += [("d", s) for s in sorted(depth - current_depth)]
    seen = set(order)
    order += [item for item in rest if item not in seen]
    kept = order[:limit]
    kq = {s for k, s in kept if k == "q"}
    kd = {s for k, s in kept if k == "d"}
    # Verdicts are per symbol: one whose quotes stay subscribed is not refused (its missing
    # depth is logged by the caller).
    refused = (quote - kq) | ((depth - kd) - kq)
    if depth - kd:
        log.error("no room for the depth of %d symbols", len(depth - kd))
    return kq, kd, refused


class FyersSource:
    """The supervised Fyers upstream (see the module docstring)."""

    def __init__(
        self,
        config: FyersConfig,
        *,
        tokens: TokenSource,
        demand: DemandSource,
        verdicts: VerdictBoard,
        resolver: SymbolResolver,
        metrics: Metrics,
        connect: ConnectionFactory | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        self._tokens = tokens
        self._demand = demand
        self._verdicts = verdicts
        self._resolver = resolver
        self._metrics = metrics
        self._connect = connect or self._sdk_connection
        self._prepare = prepare
        self._normalizer = Normalizer()
        self._bridge: Bridge | None = None
        self.quotes: set[str] = set()  # subscribed upstream on the current connection
        self.depths: set[str] = set()
        self._resolved: dict[str, bool] = {}  # this connection's symbol-token answers
        self._refused: set[str] = set()  # over the symbol limit
        self._rejected: list[str] = []  # refused by the SDK; verdicts not yet published
        self._plan_limit: str | None = None  # the server's own symbol-limit refusal
        self._awaiting_data = False  # connected, no update yet: not "up" until one arrives
        self._state: tuple[UpstreamState, str | None] = ("down", "starting")
        self._overflow_seen = 0
        self.connections = 0

    def _sdk_connection(
        self, credential: Credential, bridge: Bridge, generation: int
    ) -> Connection:
        from livews_marketdata.upstream.sdk import SdkConnection  # only on demand (tests)

        return SdkConnection(
            url=self._config.ws_url, access_token=credential.access_token, bridge=bridge,
            generation=generation, call_timeout=self._config.call_timeout,
        )  # fmt: skip

    # -- the source -----------------------------------------------------------------------

    async def run(self, sink: FeedSink) -> None:
        self._bridge = Bridge(asyncio.get_running_loop())
        if self._prepare is not None:
            await self._prepare()
        pump = asyncio.create_task(self._pump(sink), name="fyers-pump")
        try:
            await self._supervise(sink, self._bridge)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, sink: FeedSink) -> None:
        """Normalize and deliver whatever the SDK buffered, batch after batch."""
        bridge = self._bridge
        assert bridge is not None
        normalizer, m = self._normalizer, self._metrics
        ticks_in = Children(m.ticks_in)
        while True:
            items = await bridge.take()
            ticks, depth = normalizer.normalize(items, self.quotes, self.depths)
            counts, drops = normalizer.take_counts()
            for kind, n in counts.items():
                ticks_in.get(kind).inc(n)
            for reason, n in drops.items():
                m.ticks_dropped.labels(reason).inc(n)
            if bridge.overflow != self._overflow_seen:
                m.ticks_dropped.labels("overflow").inc(bridge.overflow - self._overflow_seen)
                self._overflow_seen = bridge.overflow
            if ticks or depth:
                await sink.deliver(ticks, depth)
                if self._awaiting_data:
                    self._awaiting_data = False
                    self._set_state(sink, "up", None)

    def _set_state(self, sink: FeedSink, state: UpstreamState, reason: str | None) -> None:
        self._state = (state, reason)
        sink.set_state(state, reason, len(self.quotes | self.depths))

    # -- supervision ----------------------------------------------------------------------

    async def _supervise(self, sink: FeedSink, bridge: Bridge) -> None:
        cfg = self._config
        backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        failures = 0
        while True:
            credential = await self._wait_for_token(sink)
            outcome = await self._connection(sink, bridge, credential)
            self._metrics.reconnects.labels(outcome.reason).inc()
            log.warning(
                "upstream connection ended",
                extra={"reason": outcome.reason, "detail": outcome.detail},
            )
            if outcome.delivered:
                backoff.reset()
                failures = 0
            if outcome.reason == "token_changed":
                continue
            if outcome.reason == "token_expired":
                await self._tokens.report_expired(credential, outcome.detail)
                self._set_state(sink, "down", f"feed token expired ({outcome.detail})")
                continue
            if outcome.reason == "auth_refused":
                await self._tokens.report_refused(credential, outcome.detail)
            failures += 1
            delay = backoff.next_delay()
            state: UpstreamState = "degraded" if failures < DOWN_AFTER_FAILURES else "down"
            self._set_state(sink, state, f"{outcome.detail}; reconnecting in {delay:.1f}s")
            self._tokens.changed.clear()
            with contextlib.suppress(TimeoutError):  # a new token cuts the wait short
                await asyncio.wait_for(self._tokens.changed.wait(), delay)

    async def _wait_for_token(self, sink: FeedSink) -> Credential:
        said: str | None = None
        while True:
            self._tokens.changed.clear()
            try:
                return await self._tokens.current()
            except NoToken as exc:
                if exc.reason != said:
                    log.warning("waiting for an upstream token", extra={"why": exc.reason})
                    said = exc.reason
                self.quotes, self.depths = set(), set()
                self._set_state(sink, "down", exc.reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tokens.changed.wait(), TOKEN_POLL_SECONDS)

    async def _connection(self, sink: FeedSink, bridge: Bridge, credential: Credential) -> Outcome:
        generation = bridge.new_generation()
        self.quotes, self.depths = set(), set()
        self._resolved, self._refused = {}, set()
        self._plan_limit = None
        self.connections += 1
        conn = self._connect(credential, bridge, generation)
        opened_at = time.monotonic()
        self._awaiting_data = True
        try:
            await conn.open()
            await self._await_auth(bridge)
            await self._sync(conn, credential, full=True)
            bridge.mark_data()
            if self._awaiting_data:
                self._set_state(sink, "degraded", "connected; waiting for the first update")
            log.info(
                "upstream connected",
                extra={"quotes": len(self.quotes), "depth": len(self.depths),
                       "credential": credential.fingerprint},
            )  # fmt: skip
            reason, detail = await self._watch(sink, bridge, conn, credential)
        except _Ended as exc:
            reason, detail = exc.reason, exc.detail
        except TokenExpired as exc:
            reason, detail = "token_expired", exc.detail
        except AuthRefused as exc:
            reason, detail = "auth_refused", exc.detail
        except UpstreamError as exc:
            reason, detail = exc.reason, str(exc)
        finally:
            self._awaiting_data = False
            bridge.new_generation()  # whatever this socket still says is ignored
            self.quotes, self.depths = set(), set()
            self._metrics.subscribed.labels("quote").set(0)
            self._metrics.subscribed.labels("depth").set(0)
            await asyncio.shield(conn.close())
        return Outcome(reason, detail, delivered=bridge.last_data > opened_at + 0.001)

    async def _await_auth(self, bridge: Bridge) -> None:
        deadline = time.monotonic() + self._config.connect_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Ended("connect_timeout", "no auth reply from the upstream")
            try:
                event = await asyncio.wait_for(bridge.control.get(), remaining)
            except TimeoutError:
                continue
            payload = event.payload
            if (
                event.kind == "message"
                and isinstance(payload, dict)
                and payload.get("type") == "cn"
                and payload.get("code") == 200
            ):
                return
            self._check_event(event)

    def _check_event(self, event: ControlEvent) -> None:
        """Raise :class:`_Ended` for a control event that ends the connection."""
        payload = event.payload
        if event.kind == "close":
            raise _Ended("dropped", "the upstream closed the connection")
        if event.kind != "error":
            log.debug("upstream says", extra={"message": describe(payload)})
            return
        if isinstance(payload, dict):
            code, kind = payload.get("code"), payload.get("type")
            if kind == "cn" and code == -99:
                raise _Ended("token_expired", describe(payload))
            if kind == "cn":
                raise _Ended("auth_refused", describe(payload))
            invalid = payload.get("invalid_symbols")
            if isinstance(invalid, list):
                self._reject([s for s in invalid if isinstance(s, str)])
                return
            if code == 51001 or (code == -99 and kind is None):
                self._plan_limit = f"the upstream refused subscriptions: {describe(payload)}"
                log.error(self._plan_limit)
                return
        # A socket exception is followed by the close that ends the connection.
        level = logging.INFO if isinstance(payload, BaseException) else logging.WARNING
        log.log(level, "upstream error", extra={"error": describe(payload)})

    def _reject(self, symbols: list[str]) -> None:
        """The SDK said these are invalid: unsubscribe locally; verdicts go out next."""
        self.quotes.difference_update(symbols)
        self.depths.difference_update(symbols)
        self._resolved.update(dict.fromkeys(symbols, False))
        self._rejected.extend(symbols)

    async def _watch(
        self, sink: FeedSink, bridge: Bridge, conn: Connection, credential: Credential
    ) -> tuple[str, str]:
        """Wait for the end of this connection, applying demand changes meanwhile."""
        stall = self._config.stall_seconds
        retry_sync_at: float | None = None
        while True:
            idle = time.monotonic() - bridge.last_data
            if idle >= stall:
                self._set_state(sink, "degraded", f"no data from the upstream for {idle:.0f}s")
                return "stall", f"no data for {idle:.0f}s"
            wait = stall - idle
            if retry_sync_at is not None:
                wait = min(wait, max(0.0, retry_sync_at - time.monotonic()))
            fired, events = await self._next_events(bridge, wait)
            for event in events:
                self._check_event(event)
            if self._rejected:
                rejected, self._rejected = self._rejected, []
                await self._verdicts.publish(verdict(s, False, UNKNOWN_SYMBOL) for s in rejected)
            if self._plan_limit and self._state != ("degraded", self._plan_limit):
                self._set_state(sink, "degraded", self._plan_limit)  # some symbols get nothing
            if "token" in fired and await self._token_changed(credential):
                return "token_changed", "a new feed token arrived"
            if "demand" in fired or (retry_sync_at and time.monotonic() >= retry_sync_at):
                self._demand.changed.clear()
                retry_sync_at = None
                if not await self._apply_demand(conn, credential):
                    retry_sync_at = time.monotonic() + 2.0
                if (self._state[0] == "up" or self._plan_limit) and not self._awaiting_data:
                    self._plan_limit = None  # a new subscription set: see what the server says
                    self._set_state(sink, "up", None)  # the symbol count changed

    async def _next_events(
        self, bridge: Bridge, wait: float
    ) -> tuple[set[str], list[ControlEvent]]:
        """Wait up to ``wait`` s for a control event, a token change or a demand change."""
        waiters = {
            asyncio.ensure_future(bridge.control.get()): "control",
            asyncio.ensure_future(self._tokens.changed.wait()): "token",
            asyncio.ensure_future(self._demand.changed.wait()): "demand",
        }
        try:
            done, _ = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        fired = {waiters[w] for w in done if not w.cancelled()}
        events = [
            result
            for w in done
            if not w.cancelled() and isinstance(result := w.result(), ControlEvent)
        ]
        return fired, events

    async def _apply_demand(self, conn: Connection, credential: Credential) -> bool:
        """Apply a demand change; False if it must be retried (token trouble propagates)."""
        try:
            await self._sync(conn, credential, full=False)
        except (TokenExpired, AuthRefused):
            raise
        except UpstreamError as exc:
            log.warning("could not apply a demand change; retrying", extra={"error": str(exc)})
            return False
        return True

    async def _token_changed(self, credential: Credential) -> bool:
        self._tokens.changed.clear()
        try:
            fresh = await self._tokens.current()
        except NoToken:
            return False  # keep the working connection; the next one will wait for a token
        return fresh.access_token != credential.access_token

    # -- subscriptions --------------------------------------------------------------------

    async def _sync(self, conn: Connection, credential: Credential, *, full: bool) -> None:
        """Make the upstream subscriptions match the demand (``full``: from scratch)."""
        demand = self._demand.current()
        wanted = demand.quote | demand.depth
        if len(self._resolved) > RESOLVED_CAP:  # answers about symbols no one wants any more
            self._resolved = {s: ok for s, ok in self._resolved.items() if s in wanted}
        unknown = sorted(s for s in wanted if s not in self._resolved)
        if unknown:
            answers = await self._resolver.resolve(unknown, credential.bare_token)
            self._resolved.update(answers)
            await self._verdicts.publish(
                verdict(s, ok, None if ok else UNKNOWN_SYMBOL) for s, ok in answers.items()
            )
            bad = sorted(s for s, ok in answers.items() if not ok)
            if bad:
                log.info("symbols unknown to the upstream", extra={"symbols": ",".join(bad[:20])})
        quote = {s for s in demand.quote if self._resolved.get(s)}
        depth = {s for s in demand.depth if self._resolved.get(s)}
        quote, depth, refused = fit_limit(
            quote, depth, current_quote=self.quotes, current_depth=self.depths,
            watchlist=self._config.watchlist, limit=self._config.symbol_limit,
        )  # fmt: skip
        await self._publish_limit_verdicts(refused)
        for data_type, current, target in (
            (QUOTES, self.quotes, quote),
            (DEPTH, self.depths, depth),
        ):
            remove = sorted(current - target)
            add = sorted(target - current)
            if remove:
                current.difference_update(remove)  # late updates for them are dropped
                await conn.unsubscribe(remove, data_type)
            if add:
                current.update(add)  # before the call: the snapshot can arrive at once
                await conn.subscribe(add, data_type)
        self._metrics.subscribed.labels("quote").set(len(self.quotes))
        self._metrics.subscribed.labels("depth").set(len(self.depths))

    async def _publish_limit_verdicts(self, refused: set[str]) -> None:
        newly_refused = refused - self._refused
        readmitted = {s for s in self._refused - refused if self._resolved.get(s)}
        self._refused = refused
        if newly_refused:
            limit = self._config.symbol_limit
            log.error(
                "upstream symbol limit reached: %d symbols are not subscribed",
                len(refused), extra={"limit": limit},
            )  # fmt: skip
            message = (
                f"not subscribed: the upstream limit of {limit} symbols per connection is reached"
            )
            await self._verdicts.publish(verdict(s, False, message) for s in sorted(newly_refused))
        if readmitted:
            await self._verdicts.publish(verdict(s, True) for s in sorted(readmitted))


async def fetch_index_map(client: httpx.AsyncClient, url: str, limit: float) -> dict[str, str]:
    """The index → HSM name map, fetched once (it replaces the SDK's own fetch)."""
    response = await client.get(url, timeout=limit)
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in body.items()
    ):
        raise ValueError("the index map is not an object of strings")
    return body
