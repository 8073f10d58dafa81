"""The ingestor: campaign for the leader lease; while leader, run the feed into Redis.

States: ``starting`` → ``standby`` (Redis reachable, lease held by someone else: polls every
``MARKETDATA_STANDBY_POLL_MS`` to take it) → ``leader`` (holds the lease, renews it every
TTL/3, runs the source, the publisher, demand, verdicts and status) → back to ``standby``
when the lease is lost. A standby that just saw Redis come back (the lease readable again),
or finds the lease's epoch lower than it last read (Redis restarted empty while a retry in
the client hid the outage), waits one lease TTL before campaigning, so the leader it saw
before the outage can take its lease back first and keep ``seq`` continuous (a fresh Redis
has no ``md:last`` to continue from).

While leader, a Redis outage is ridden out: the upstream stays connected, the publisher keeps
the newest value per symbol, and once Redis answers the lease is renewed — or, if it lapsed
meanwhile (Redis restarted), re-taken if still free — and the pending values are flushed.
Only if someone else holds it now does this instance step down.

Shutdown (SIGTERM): the source closes the upstream, the last status (``down``) is written,
the lease is released so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import random
import time
from collections.abc import Callable
from typing import Literal

import httpx
import msgspec
import redis.asyncio as aioredis

from livews_common import names
from livews_common.feedtoken import TokenCipher
from livews_common.market import MarketClock
from livews_common.models import MAX_SEQ, Depth, MarketState, Status, Tick, UpstreamState
from livews_common.symbols import is_valid_symbol
from livews_marketdata.bars import BarBuilder, BarWriter
from livews_marketdata.demand import RedisDemand
from livews_marketdata.errors import NotLeader
from livews_marketdata.lease import RedisLease
from livews_marketdata.metrics import Metrics
from livews_marketdata.normalize import Sequencer
from livews_marketdata.notify import Notifications
from livews_marketdata.publish import TRANSIENT, Publisher, RedisPublisher
from livews_marketdata.record import Recorder
from livews_marketdata.resolve import CallLimiter, SymbolResolver
from livews_marketdata.settings import MarketdataSettings
from livews_marketdata.tokens import Credential, EnvTokenSource, RedisTokenSource, TokenSource
from livews_marketdata.upstream import Source
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.clients import UpstreamClients
from livews_marketdata.upstream.fyers import (
    Connection,
    ConnectionFactory,
    FyersConfig,
    FyersSource,
)
from livews_marketdata.upstream.replay import ReplaySource
from livews_marketdata.verdicts import VerdictBoard

log = logging.getLogger(__name__)

Role = Literal["starting", "standby", "leader", "stopped"]


class _Seq(msgspec.Struct):
    seq: int


_seq_decoder = msgspec.json.Decoder(_Seq)
_symbol_of = operator.attrgetter("symbol")


async def read_last_seqs(redis: aioredis.Redis, key: str) -> dict[str, int]:
    """Symbol → ``seq`` of every value in a last-value hash (unreadable values are skipped).

    Redis content is not trusted: a field that is not a valid symbol is skipped, and a
    ``seq`` above :data:`~livews_common.models.MAX_SEQ` (a poisoned value) is not adopted —
    that symbol continues from the clock in milliseconds instead, which is above any genuine
    seq (so it never goes backwards for genuine data) and far below ``MAX_SEQ``.
    """
    seqs: dict[str, int] = {}
    async for field, value in redis.hscan_iter(key, count=1000):
        try:
            symbol = field.decode()
            seq = _seq_decoder.decode(value).seq
        except (msgspec.DecodeError, UnicodeDecodeError):
            log.warning("unreadable value in %s", key, extra={"field": repr(field)[:60]})
            continue
        if not is_valid_symbol(symbol):
            log.warning("ignoring a malformed symbol in %s", key, extra={"field": repr(field)[:60]})
            continue
        if not 0 <= seq <= MAX_SEQ:
            clock_seq = int(time.time() * 1000)
            log.warning(
                "ignoring an absurd seq in %s; continuing from the clock", key,
                extra={"symbol": symbol, "seq": seq, "instead": clock_seq},
            )  # fmt: skip
            seq = clock_seq
        seqs[symbol] = seq
    return seqs


class Pipeline:
    """The leader's sink: stamps ``seq``, records, publishes, and reports status changes."""

    def __init__(
        self,
        publisher: Publisher,
        sequencer: Sequencer,
        metrics: Metrics,
        *,
        recorder: Recorder | None = None,
        on_state: Callable[[UpstreamState, str | None], None] | None = None,
        market: MarketClock | None = None,
        refresh: float = 5.0,
        bars: BarBuilder | None = None,
    ) -> None:
        self._publisher = publisher
        #: Folds every published tick into one-minute bars (written by a BarWriter task).
        self.bars = bars
        self.market = market
        self.market_state: MarketState | None = market.state() if market is not None else None
        self._refresh = refresh
        #: A warning for ``reason`` while nothing else is wrong (the refresh token lapses soon).
        self.notice: Callable[[], str | None] | None = None
        self._notice_text: str | None = None
        #: The newest value of every symbol this leader published: rewritten into md:last and
        #: md:depth:last when Redis turns out to have lost them (a restart without persistence).
        self.last_ticks: dict[str, Tick] = {}
        self.last_depth: dict[str, Depth] = {}
        self._sequencer = sequencer
        self._metrics = metrics
        self._recorder = recorder
        self._on_state = on_state
        self._status: Status | None = None
        self._status_changed = asyncio.Event()
        self.state: tuple[UpstreamState, str | None, int] = ("down", "starting", 0)
        self.delivered = 0

    async def deliver(self, ticks: list[Tick], depth: list[Depth]) -> None:
        self._sequencer.stamp(ticks, depth)
        # The newest of each symbol wins (one pass in C, not a Python loop).
        self.last_ticks.update(zip(map(_symbol_of, ticks), ticks, strict=True))
        self.last_depth.update(zip(map(_symbol_of, depth), depth, strict=True))
        if self._recorder is not None:
            self._recorder.write(ticks, depth)
        if ticks:
            newest = ticks[-1]
            if newest.exch_ts is not None:
                lag = (newest.ingest_ts - newest.exch_ts) / 1000
                self._metrics.exchange_lag.observe(max(0.0, lag))
        self.delivered += len(ticks) + len(depth)
        if self.bars is not None:
            self.bars.fold(ticks)
        await self._publisher.publish(ticks, depth)

    def set_state(self, state: UpstreamState, reason: str | None, symbols: int) -> None:
        if (state, reason, symbols) == self.state:
            return
        if (state, reason) != self.state[:2]:
            log.info("upstream %s", state, extra={"reason": reason, "symbols": symbols})
        self.state = (state, reason, symbols)
        self._metrics.set_upstream_state(state)
        self._status = Status(
            upstream=state, ts=int(time.time() * 1000), symbols=symbols,
            reason=reason if reason is not None else self._notice_text, market=self.market_state,
        )  # fmt: skip
        self._status_changed.set()
        if self._on_state is not None:
            self._on_state(state, reason)

    def refresh_status(self) -> None:
        """Write the current status again (Redis restarted and lost it, say)."""
        if self._status is not None:
            self._status_changed.set()

    @property
    def market_closed(self) -> bool:
        """True while the exchange is closed: a quiet upstream is normal then."""
        return self.market_state == "closed"

    def check_notice(self) -> None:
        """A new warning (or none any more) is a new status when no other reason is given."""
        text = self.notice() if self.notice is not None else None
        if text == self._notice_text:
            return
        if text is not None:
            log.warning(text)
        self._notice_text = text
        if self._status is not None and self.state[1] is None:
            self._status = msgspec.structs.replace(
                self._status, reason=text, ts=int(time.time() * 1000)
            )
            self._status_changed.set()

    def check_market(self) -> None:
        """Follow the session calendar; a new session is a new status."""
        if self.market is None:
            return
        state = self.market.state()
        if state == self.market_state:
            return
        log.info("market %s", state, extra={"was": self.market_state})
        self.market_state = state
        if self._status is not None:
            self._status = msgspec.structs.replace(
                self._status, market=state, ts=int(time.time() * 1000)
            )
            self._status_changed.set()

    async def run_status(self) -> None:
        """Write the newest status when it changes, and again every ``refresh`` seconds.

        The rewrite keeps ``md:status`` from expiring while this leader lives (and restores it
        if Redis lost it); the session calendar is checked at least once a second.
        """
        written_at = float("-inf")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), min(1.0, self._refresh))
            self.check_market()
            self.check_notice()
            now = time.monotonic()
            if self._status_changed.is_set() or now - written_at >= self._refresh:
                self._status_changed.clear()
                if self._status is not None:
                    await self._publisher.set_status(self._status)
                    written_at = now


class Ingestor:
    """One ingestor instance (see the module docstring)."""

    def __init__(
        self,
        settings: MarketdataSettings,
        redis: aioredis.Redis,
        http: httpx.AsyncClient,
        metrics: Metrics,
        *,
        cipher: TokenCipher | None,
        instance: str | None = None,
    ) -> None:
        self.settings = settings
        self.instance = instance or settings.make_instance_id()
        self.metrics = metrics
        self._redis = redis
        self._http = http
        self._cipher = cipher
        self.market = settings.market_clock()
        self.lease = RedisLease(redis, self.instance, settings.lease_ttl)
        self.sequencer = Sequencer()
        self.role: Role = "starting"
        self.upstream: tuple[UpstreamState, str | None] = ("down", "not the leader")
        self._redis_ok_at = float("-inf")
        self._redis_back_at = float("-inf")
        self._seen_epoch = 0  # the newest lease epoch the campaign has read
        self._outage = False
        self._stopping = False
        self._rng = random.Random()
        self.source: Source | None = None
        self.publisher: RedisPublisher | None = None
        #: This term's one-minute bars (made when a term starts, seeded from Redis).
        self.bar_writer: BarWriter | None = None
        self.pipeline: Pipeline | None = None

    # -- health ---------------------------------------------------------------------------

    def _redis_ok(self) -> None:
        now = time.monotonic()
        if self._outage:
            self._outage = False
            self._redis_back_at = now
            log.info("Redis is reachable again")
        self._redis_ok_at = now
        self.metrics.redis_up.set(1)

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._outage:
            log.warning("Redis unreachable", extra={"error": f"{type(exc).__name__}: {exc}"})
        self._outage = True
        self.metrics.redis_up.set(0)

    @property
    def redis_usable(self) -> bool:
        fresh = max(3.0, 1.5 * self.settings.lease_ttl)
        if self.publisher is not None and not self.publisher.healthy:
            return False
        return not self._outage and time.monotonic() - self._redis_ok_at < fresh

    def readiness(self) -> tuple[bool, str]:
        """Ready = Redis usable and (a standby, or the leader with the upstream not ``down``).

        Readiness is about serving: a leader whose upstream is ``degraded`` (a stall, a drop
        being reconnected, the symbol limit) stays ready — restarting it would not bring Fyers
        back, and ``md:status`` already tells every consumer. ``down`` (no feed token, a replay
        that ended, the term just starting) is not ready.
        """
        if not self.redis_usable:
            return False, "Redis is unreachable"
        if self.role == "standby":
            return True, "standby: another instance leads"
        if self.role == "leader":
            state, reason = self.upstream
            if state == "up":
                return True, "leader: upstream up"
            return state == "degraded", f"leader: upstream {state}: {reason}"
        return False, self.role

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign and lead until cancelled."""
        try:
            while True:
                await self._campaign()
                try:
                    await self._lead()
                except* NotLeader as group:
                    for exc in group.exceptions:
                        log.warning("stepping down", extra={"why": str(exc)})
                except* Exception as group:
                    # A bug, not a fault the design expects: say so loudly, give the lease
                    # up so a standby can try, and campaign again after a pause.
                    log.error("the leader term failed", exc_info=group)
                    with contextlib.suppress(*TRANSIENT):
                        await self.lease.release()
                    await asyncio.sleep(1.0)
                self.metrics.leader_transitions.labels("lost").inc()
        finally:
            self.role = "stopped"

    async def _campaign(self) -> None:
        self.role = "standby"
        self.upstream = ("down", "not the leader")
        self.metrics.leader.set(0)
        self.metrics.leader_epoch.set(0)
        poll = self.settings.standby_poll_ms / 1000
        ttl = self.settings.lease_ttl
        said_waiting = False
        while True:
            try:
                if self._outage or time.monotonic() - self._redis_back_at < ttl:
                    # Redis is (or was just) away: let the leader of before take its lease
                    # back first; it has every symbol's seq, a fresh Redis has none. Back
                    # means the lease is readable: on a Cluster a node answers PING before
                    # the restarted nodes agree and serve their slots (CLUSTERDOWN), and a
                    # grace counted from then would run out before the leader can renew.
                    await self._redis.get(names.LEADER_LEASE)
                    self._redis_ok()
                elif await self._lease_history_lost():
                    # Redis restarted empty without this standby seeing it away (a retry
                    # inside the client hid the outage): the same grace as above.
                    self._redis_back_at = time.monotonic()
                    log.info("the lease's epoch went back: Redis lost its data; waiting a "
                             "lease TTL for the leader to take its lease back")  # fmt: skip
                else:
                    epoch = await self.lease.acquire()
                    self._redis_ok()
                    if epoch is not None:
                        log.info("acquired the leader lease", extra={"epoch": epoch})
                        self.metrics.leader_transitions.labels("acquired").inc()
                        return
                    if not said_waiting:
                        holder = await self._redis.get(names.LEADER_LEASE)
                        leader = holder.decode() if isinstance(holder, bytes) else str(holder)
                        log.info("standing by", extra={"leader": leader})
                        said_waiting = True
            except TRANSIENT as exc:
                self._redis_failed(exc)
            await asyncio.sleep(poll * self._rng.uniform(0.8, 1.2))

    async def _lease_history_lost(self) -> bool:
        """Whether the lease's epoch is lower than this standby saw it last time."""
        epoch = await self.lease.last_epoch()
        lost = epoch < self._seen_epoch
        self._seen_epoch = epoch
        return lost

    async def _lead(self) -> None:
        epoch = self.lease.epoch
        assert epoch is not None
        self.role = "leader"
        self.upstream = ("down", "starting")
        self.metrics.leader.set(1)
        self.metrics.leader_epoch.set(epoch)
        publisher = RedisPublisher(
            self._redis, self.instance, lambda: self.lease.epoch, self.metrics,
            status_ttl=self.settings.status_ttl,
        )  # fmt: skip
        self.publisher = publisher
        try:
            try:
                await self._seed_sequencer()
            except TRANSIENT as exc:
                self._redis_failed(exc)
                raise NotLeader(self.instance, "Redis went away while taking over") from None
            async with asyncio.TaskGroup() as tg:
                self._start_term(tg, publisher)
        finally:
            self.publisher = None
            self.pipeline = None
            self.metrics.leader.set(0)
            self.upstream = ("down", "not the leader")
            if self._stopping:
                await self._step_down(publisher)

    async def _seed_sequencer(self) -> None:
        ticks = await read_last_seqs(self._redis, names.LAST_TICKS)
        depth = await read_last_seqs(self._redis, names.LAST_DEPTH)
        self.sequencer.seed(ticks, depth)
        s = self.settings
        self.bar_writer = BarWriter(
            self._redis, BarBuilder(length_ms=s.bar_seconds * 1000), self.instance,
            lambda: self.lease.epoch, cap=s.bars_cap,
        )  # fmt: skip
        await self.bar_writer.seed(list(ticks))
        log.info("continuing seq from Redis", extra={"ticks": len(ticks), "depth": len(depth)})

    def _start_term(self, tg: asyncio.TaskGroup, publisher: RedisPublisher) -> None:
        s = self.settings
        notifications = Notifications(self._redis)
        demand = RedisDemand(
            self._redis, s.watchlist, debounce=s.demand_debounce_ms / 1000,
            rescan=s.demand_rescan_seconds,
        )  # fmt: skip
        notifications.on(names.DEMAND_CHANGED, demand.notify, demand.resync)
        verdicts = VerdictBoard(self._redis, self.metrics, negative_ttl=s.negative_verdict_ttl)
        recorder = Recorder(s.record_path, self.metrics) if s.record_path else None

        def on_state(state: UpstreamState, reason: str | None) -> None:
            self.upstream = (state, reason)

        pipeline = self.pipeline = Pipeline(
            publisher, self.sequencer, self.metrics, recorder=recorder, on_state=on_state,
            market=self.market, refresh=s.status_ttl / 3,
            bars=self.bar_writer.builder if self.bar_writer is not None else None,
        )  # fmt: skip
        source: Source
        if s.source == "replay":
            assert s.replay_path is not None
            source = ReplaySource(
                s.replay_path, speed=s.replay_speed, loop=s.replay_loop, demand=demand,
                verdicts=verdicts,
            )  # fmt: skip
        else:
            tokens = self._token_source()
            if isinstance(tokens, RedisTokenSource):
                # Notices are hints: tokens.watch() wakes the upstream only on a real change.
                notifications.on(names.FEED_TOKEN_CHANGED, tokens.notify, tokens.notify)
                tg.create_task(tokens.watch(), name="feed-token-watch")
                pipeline.notice = _refresh_notice(tokens, s.refresh_token_warn_seconds)
            resolver = SymbolResolver(
                self._http,
                s.symbol_token_url,
                timeout=s.rest_timeout,
                limiter=CallLimiter(s.resolve_rate, s.resolve_burst),
            )
            clients = UpstreamClients(
                s.upstream_client, ws_url=s.data_ws_url, http=self._http, resolver=resolver,
                index_map_url=s.index_map, token_url=s.symbol_token_url,
                rest_timeout=s.rest_timeout, connect_timeout=s.connect_timeout,
                sdk_log_dir=s.sdk_log_dir, socket_symbols=s.socket_symbols,
                max_sockets=s.max_sockets, lite=s.data_mode == "lite",
            )  # fmt: skip
            source = FyersSource(
                FyersConfig(
                    ws_url=s.data_ws_url, stall_seconds=s.stall_seconds,
                    connect_timeout=s.connect_timeout, call_timeout=s.rest_timeout + 5,
                    symbol_limit=s.total_symbol_limit(), backoff_base=s.backoff_base_ms / 1000,
                    backoff_max=s.backoff_max_ms / 1000, watchlist=s.watchlist,
                ),
                tokens=tokens, demand=demand, verdicts=verdicts,
                resolver=resolver,
                metrics=self.metrics, prepare=clients.prepare,
                connect=_quiet_when_closed(clients.connect, lambda: pipeline.market_closed, tg),
            )  # fmt: skip
        self.source = source
        tg.create_task(publisher.run(), name="publisher")
        if self.bar_writer is not None:
            tg.create_task(self.bar_writer.run(), name="bars")
        tg.create_task(pipeline.run_status(), name="status")
        tg.create_task(notifications.run(), name="notifications")
        tg.create_task(demand.run(), name="demand")
        tg.create_task(verdicts.run(), name="verdicts")
        if recorder is not None:
            tg.create_task(recorder.run(), name="recorder")
        tg.create_task(source.run(pipeline), name="source")
        tg.create_task(self._hold_lease(publisher), name="lease")

    def _token_source(self) -> TokenSource:
        token = self.settings.access_token()
        if token is not None:
            return EnvTokenSource(token)
        assert self._cipher is not None, "a token cipher is needed without FYERS_ACCESS_TOKEN"
        return RedisTokenSource(self._redis, self._cipher, self.metrics, instance=self.instance)

    async def _hold_lease(self, publisher: RedisPublisher) -> None:
        """Renew every TTL/3; ride out a Redis outage; raise NotLeader once it is lost."""
        ttl = self.settings.lease_ttl
        interval = ttl / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(publisher.fenced.wait(), interval)
            was_out = self._outage
            try:
                if await self.lease.renew():
                    self._redis_ok()
                    if publisher.fenced.is_set():
                        publisher.kick()
                else:
                    self._redis_ok()
                    await self._retake(publisher)
            except TRANSIENT as exc:
                self._redis_failed(exc)
                continue
            if was_out and self.pipeline is not None:
                self.pipeline.refresh_status()  # a restarted Redis has lost md:status

    async def _retake(self, publisher: RedisPublisher) -> None:
        """The lease lapsed (Redis restarted, or we paused): take it back if still free."""
        epoch = await self.lease.acquire()
        if epoch is None:
            raise NotLeader(self.instance, "another instance holds the lease")
        log.warning("the leader lease had lapsed; took it back", extra={"epoch": epoch})
        self.metrics.leader_epoch.set(epoch)
        self.metrics.leader_transitions.labels("retaken").inc()
        remote_ticks = await read_last_seqs(self._redis, names.LAST_TICKS)
        remote_depth = await read_last_seqs(self._redis, names.LAST_DEPTH)
        self.sequencer.seed(remote_ticks, remote_depth)
        if self.pipeline is not None:
            _rewrite_lost(publisher, self.pipeline, remote_ticks, remote_depth)
        _restamp(publisher, self.sequencer, remote_ticks, remote_depth)
        publisher.kick()
        if self.pipeline is not None:
            self.pipeline.refresh_status()

    async def _step_down(self, publisher: RedisPublisher) -> None:
        """On shutdown: last status, then release the lease (each bounded in time)."""
        status = Status(
            upstream="down", ts=int(time.time() * 1000), symbols=0,
            reason=f"ingestor {self.instance} stopped; a standby takes over if one runs",
        )  # fmt: skip
        try:
            async with asyncio.timeout(2.0):
                publisher.pending_ticks.clear()
                publisher.pending_depth.clear()
                publisher.healthy = True
                await publisher.set_status(status)
                await self.lease.release()
            log.info("released the leader lease")
        except (TimeoutError, *TRANSIENT) as exc:
            log.warning("could not release the lease cleanly", extra={"error": str(exc)})

    async def shutdown(self, task: asyncio.Task[None], deadline: float) -> None:
        """Stop ``task`` (this ingestor's ``run``) gracefully within ``deadline`` seconds."""
        self._stopping = True
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), deadline)
        except (asyncio.CancelledError, TimeoutError):
            pass
        except Exception:
            log.exception("the ingestor failed while stopping")


def _quiet_when_closed(
    connect: ConnectionFactory, closed: Callable[[], bool], tg: asyncio.TaskGroup
) -> ConnectionFactory:
    """Connections whose stall clock does not run out while the exchange is closed.

    The supervisor's watchdog rebuilds a connection after ``MARKETDATA_STALL_SECONDS`` without
    data — right while the market is open, pointless all night (Fyers' socket is quiet then).
    For as long as a connection is the current one of its bridge, this restarts the bridge's
    stall clock once a second while the calendar says ``closed``; in ``pre_open`` and ``open``
    the watchdog runs as before. The tasks belong to the leader's term (``tg``).
    """

    def factory(credential: Credential, bridge: Bridge, generation: int) -> Connection:
        conn = connect(credential, bridge, generation)

        async def hold() -> None:
            while bridge.generation == generation:
                if closed():
                    bridge.mark_data()
                await asyncio.sleep(1.0)

        tg.create_task(hold(), name=f"market-quiet-{generation}")
        return conn

    return factory


def _refresh_notice(tokens: RedisTokenSource, warn: float) -> Callable[[], str | None]:
    """The ``md:status`` reason while the feed account's refresh token lapses within ``warn``."""

    def notice() -> str | None:
        lapses_at = tokens.refresh_expires_at
        if lapses_at is None:
            return None
        left = lapses_at - time.time()
        if left > warn:
            return None
        if left <= 0:
            return "the feed account's Fyers refresh token has lapsed: sign in again as it"
        return (
            f"the feed account's Fyers refresh token lapses in {left / 3600:.0f} h: "
            "sign in again as the feed account before then"
        )

    return notice


def _rewrite_lost(
    publisher: RedisPublisher,
    pipeline: Pipeline,
    remote_ticks: dict[str, int],
    remote_depth: dict[str, int],
) -> None:
    """Redis lost last values (a restart, a FLUSHALL): queue ours again for md:last.

    Every symbol whose value Redis lacks, or holds older than ours, is written again with the
    next flush — so a consumer reading ``md:last`` after the restart finds every symbol at once
    instead of one by one as the market ticks. Pending values (newer) win.
    """
    ticks = {
        symbol: tick
        for symbol, tick in pipeline.last_ticks.items()
        if remote_ticks.get(symbol, -1) < tick.seq and symbol not in publisher.pending_ticks
    }
    depth = {
        symbol: update
        for symbol, update in pipeline.last_depth.items()
        if remote_depth.get(symbol, -1) < update.seq and symbol not in publisher.pending_depth
    }
    if ticks or depth:
        log.warning(
            "Redis lost last values; rewriting this leader's map",
            extra={"ticks": len(ticks), "depth": len(depth)},
        )
        publisher.pending_ticks.update(ticks)
        publisher.pending_depth.update(depth)


def _restamp(
    publisher: RedisPublisher,
    sequencer: Sequencer,
    remote_ticks: dict[str, int],
    remote_depth: dict[str, int],
) -> None:
    """Pending values not newer than what Redis holds get fresh seqs (never go backwards)."""
    for symbol, tick in publisher.pending_ticks.items():
        if tick.seq <= remote_ticks.get(symbol, 0):
            tick.seq = sequencer.ticks[symbol] = sequencer.ticks.get(symbol, 0) + 1
    for symbol, update in publisher.pending_depth.items():
        if update.seq <= remote_depth.get(symbol, 0):
            update.seq = sequencer.depth[symbol] = sequencer.depth.get(symbol, 0) + 1
