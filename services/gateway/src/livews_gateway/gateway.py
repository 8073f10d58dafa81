"""The gateway: owns the parts and implements CONTRACT §3 on top of them.

Ownership: :meth:`Gateway.running` starts every background task (Redis subscriber, flusher,
demand announcer, expiry watch, disconnector, resync) and, on exit, cancels and awaits
them, withdraws the demand and closes the store. Socket.IO handlers (``handlers.py``)
call the ``connect`` / ``subscribe`` / … coroutines here and map errors to the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from livews_common import names
from livews_common.codes import ByeCode, ErrorCode
from livews_common.models import Revocation, WireError, decode
from livews_gateway.bus import Bus, MessageHandler, StateHandler
from livews_gateway.clients import BARS, MODE_INDEX, MODES, Client, ClientRegistry, Entry, Mode
from livews_gateway.compact import key_bytes
from livews_gateway.demand import DemandAnnouncer
from livews_gateway.errors import AuthRefused, BadRequest, RateLimited
from livews_gateway.fanout import Fanout, checked_bar, checked_head
from livews_gateway.frames import snapshot_frame
from livews_gateway.limits import TokenBucket
from livews_gateway.metrics import GatewayMetrics, LiveCounts
from livews_gateway.quotas import QuotaBook, QuotaLimits
from livews_gateway.requests import parse_format, parse_refresh, parse_symbols, rejection
from livews_gateway.rooms import Room, Rooms, channel_of
from livews_gateway.sessions import Disconnector, ExpiryWatch, expiring_frame
from livews_gateway.settings import GatewaySettings
from livews_gateway.status import UpstreamStatus
from livews_gateway.store import Store, StoreUnavailable
from livews_gateway.tokens import Authenticator, RevokedSessions, TokenVerifier
from livews_gateway.transport.engine import GatewaySocketIO
from livews_gateway.verdicts import VerdictBook

log = logging.getLogger(__name__)

BusFactory = Callable[[MessageHandler, StateHandler, StateHandler], Bus]

_FIXED_CHANNELS = (names.STATUS, names.SESSION_REVOKED, names.SYMBOL_VERDICT_CHANNEL)
#: Symbols per HMGET when re-reading md:last after Redis came back.
_RESYNC_CHUNK = 500
_RESYNC_RETRY = 0.2  # seconds between resync attempts while the store still fails


class Gateway:
    """One gateway process's state and behaviour (see the module doc)."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        sio: GatewaySocketIO,
        store: Store,
        bus_factory: BusFactory,
        verifier: TokenVerifier,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.sio = sio
        self.store = store
        self.verifier = verifier
        self.metrics = metrics
        self.clients = ClientRegistry()
        self.bus = bus_factory(self._on_message, self._on_redis_up, self._on_redis_down)
        self.rooms = Rooms(self.bus, on_change=self._on_rooms_changed)
        self.demand = DemandAnnouncer(
            store, self.rooms, metrics, instance=settings.instance_id,
            ttl=settings.demand_ttl, refresh=settings.demand_refresh,
        )  # fmt: skip
        self.quotas = QuotaBook(
            getattr(store, "redis", None),
            QuotaLimits(
                max_connections=settings.max_connections_per_user,
                max_symbols=settings.max_symbols_per_user,
                probes=settings.probes_per_minute, lease=settings.quota_lease,
            ),
            instance=settings.instance_id, metrics=metrics,
        )  # fmt: skip
        self.verdicts = VerdictBook(
            store, self.demand, metrics, wait=settings.verdict_wait, quotas=self.quotas
        )
        self.status = UpstreamStatus(self._broadcast)
        self.revoked = RevokedSessions()
        self.auth = Authenticator(verifier, store, self.revoked)
        self.disconnector = Disconnector(sio, metrics)
        self.fanout = Fanout(
            self.rooms, metrics, flush_min=settings.flush_min_ms / 1000,
            flush_max=settings.flush_max_ms / 1000, slow_seconds=settings.slow_consumer_seconds,
            on_slow=self._on_slow, max_seq_jump=settings.max_seq_jump,
        )  # fmt: skip
        self.expiry = ExpiryWatch(
            notice=settings.expiry_notice_seconds, on_notice=self._on_expiring,
            on_expired=self._on_expired,
        )  # fmt: skip
        self.draining = False
        self._empty = asyncio.Event()  # set whenever no client is connected
        self._empty.set()
        self.failed: str | None = None
        self._resync = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        metrics.watch(self.live_counts)
        metrics.info.labels(settings.instance_id).set(1)
        metrics.max_connections.set(settings.max_connections)

    # --- lifecycle -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the background tasks for the duration of the block."""
        for channel in _FIXED_CHANNELS:
            await self.bus.acquire([channel], wait=0)
        self._spawn("redis-bus", self.bus.run())
        self._spawn("fanout", self.fanout.run())
        self._spawn("demand", self.demand.run())
        self._spawn("expiry", self.expiry.run())
        self._spawn("disconnector", self.disconnector.run())
        self._spawn("resync", self._resync_loop())
        self._spawn("status-poll", self.status.poll(self.store))
        self._spawn("quotas", self.quotas.run())
        load = getattr(self.verifier, "load", None)
        if load is not None:
            self._spawn("jwks", load())
        try:
            yield
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.demand.withdraw()
            await self.quotas.withdraw()

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"gateway:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failed = f"{task.get_name()} crashed: {error!r}"
            log.critical("background task crashed", exc_info=error, extra={"task": task.get_name()})

    @property
    def ready(self) -> tuple[bool, str]:
        """(ready, reason) for /readyz."""
        if self.failed:
            return False, self.failed
        if self.draining:
            return False, "draining"
        if not self.bus.up or not self.status.known:
            return False, "redis unavailable"
        if not self.verifier.ready:
            return False, "signing keys (JWKS) not loaded"
        if len(self.clients) >= self.settings.max_connections:
            return False, "at connection limit"
        return True, "ok"

    def live_counts(self) -> LiveCounts:
        return LiveCounts(
            connections=len(self.clients),
            subscriptions={m: self.rooms.subscriptions[MODE_INDEX[m]] for m in MODES},
            rooms={m: self.rooms.counts[MODE_INDEX[m]] for m in MODES},
            flush_window_seconds=self.fanout.window,
            redis_up=self.bus.up,
            draining=self.draining,
        )

    async def drain(self, seconds: float) -> None:
        """Stop taking clients; say ``bye`` server_shutdown to each, spread over ``seconds``."""
        self.draining = True
        clients = list(self.clients)
        random.shuffle(clients)
        log.info("draining", extra={"clients": len(clients), "seconds": seconds})
        loop = asyncio.get_running_loop()
        start = loop.time()
        schedule = sorted(random.uniform(0, seconds) for _ in clients)
        for client, at in zip(clients, schedule, strict=True):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.disconnector.kick(client, ByeCode.SERVER_SHUTDOWN, "server restarting")
        # Give the last ones a moment to receive their bye and leave.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), 3.0)

    # --- connections ---------------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: object) -> None:
        """Authorise and register a new connection, or raise :class:`AuthRefused`."""
        token = auth.get("token") if isinstance(auth, dict) else None
        encoding = parse_format(auth)
        if encoding is None:
            raise AuthRefused(
                "bad_format", 'bad_request: format must be "json" or "compact"',
                ErrorCode.BAD_REQUEST,
            )  # fmt: skip
        claims = await self.auth.check(token)
        eio_sid = self.sio.eio_sid_of(sid)
        if eio_sid is None or self.sio.open_session(eio_sid) is None:
            raise AuthRefused("gone", "unauthorized: connection closed during authentication")
        outlet, direct = self.sio.outlet_for(eio_sid)
        client = Client(
            sid, eio_sid, outlet, user=claims.sub, session=claims.sid, exp=claims.exp,
            bucket=TokenBucket(self.settings.subscribe_rate, self.settings.subscribe_burst),
        )  # fmt: skip
        if encoding == "compact":
            client.held = {}
        if not await self.quotas.admit_connection(client):
            raise AuthRefused(
                "user_connections",
                f"rate_limited: at most {self.settings.max_connections_per_user} connections "
                "per user",
                ErrorCode.RATE_LIMITED,
            )
        if self.sio.open_session(eio_sid) is None:
            await self.quotas.release_connection(client)
            raise AuthRefused("gone", "unauthorized: connection closed during authentication")
        self.clients.add(client)
        self._empty.clear()
        if direct:
            self.sio.attach_outlet(eio_sid, outlet)
        outlet.on_writable(lambda: self.fanout.resumed(client))
        self.expiry.track(client, claims.iat)
        # Written by the flusher, so it follows python-socketio's CONNECT packet.
        client.control.append(self.status.frame)
        self.fanout.touch(client)
        self.metrics.connects.inc()

    def disconnected(self, sid: str) -> None:
        client = self.clients.get(sid)
        if client is None:
            return
        client.closing = True
        self.clients.remove(client)
        self._spawn("quota-release", self.quotas.release_connection(client))
        self.rooms.leave_all(client)
        self.fanout.forget(client)
        client.outlet.on_writable(None)
        client.pending = [[], []]
        client.control.clear()
        self.sio.detach_outlet(client.eio_sid)
        self.disconnector.reap(client)
        if not len(self.clients):
            self._empty.set()

    def _client(self, sid: str) -> Client:
        client = self.clients.get(sid)
        if client is None or client.closing:
            raise BadRequest("not connected")
        return client

    def _admit(self, client: Client) -> None:
        if client.bucket.take():
            return
        if client.bucket.strikes >= self.settings.rate_limit_strikes:
            self.disconnector.kick(client, ByeCode.RATE_LIMITED, "too many requests")
        raise RateLimited()

    # --- subscriptions -------------------------------------------------------------------------

    async def subscribe(self, sid: str, data: object) -> dict[str, Any]:
        client = self._client(sid)
        self._admit(client)
        request = parse_symbols(data)
        mode, index = request.mode, MODE_INDEX[request.mode]
        rejected = request.rejected
        held = client.subs[index]
        fresh = [s for s in request.symbols if s not in held]
        room_left = max(0, self.settings.max_symbols - client.subscription_count)
        for symbol in fresh[room_left:]:
            rejected.append(rejection(
                symbol, ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.settings.max_symbols} subscriptions per connection",
            ))  # fmt: skip
        fresh = fresh[:room_left]
        verdicts = await self.verdicts.classify(fresh, user=client.user)
        try:
            for symbol, reason in verdicts.invalid.items():
                rejected.append(rejection(symbol, ErrorCode.INVALID_SYMBOL, reason))
            for symbol in verdicts.limited:
                rejected.append(rejection(
                    symbol, ErrorCode.RATE_LIMITED,
                    f"at most {self.settings.probes_per_minute} new symbols per user per minute",
                ))  # fmt: skip
            accepted = [s for s in fresh if s not in verdicts.invalid and s not in verdicts.limited]
            over = set(await self.quotas.admit_symbols(client.user, accepted))
            for symbol in (s for s in accepted if s in over):
                rejected.append(rejection(
                    symbol, ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self.settings.max_symbols_per_user} symbols per user",
                ))  # fmt: skip
            accepted = [s for s in accepted if s not in over]
            if accepted and not client.closing:
                await self._join(client, mode, accepted)
        finally:
            self.verdicts.settle(verdicts)
        held = client.subs[index]  # the client's own set now, if this was its first subscribe
        subscribed = [s for s in request.symbols if s in held]
        if subscribed and not client.closing:
            self.fanout.set_rate(client, index, subscribed, request.max_hz)
        return {"ok": True, "subscribed": subscribed, "rejected": rejected}

    async def _join(self, client: Client, mode: Mode, symbols: list[str]) -> None:
        """Join rooms, then read their latest values for the snapshot (after the ack)."""
        client.hold += 1
        latest: list[bytes | None] = []
        days: list[list[bytes]] = []
        try:
            rooms = await self.rooms.join(client, mode, symbols)
            try:
                if mode == "bars":
                    days = await self.store.bars(symbols)
                else:
                    latest = await self.store.latest(mode, symbols)
            except StoreUnavailable:
                # Values follow when Redis is back (resync; bars: the next live bar).
                latest, days = [None] * len(symbols), [[] for _ in symbols]
        finally:
            client.hold -= 1
        if client.closing:
            self.rooms.leave_all(client)  # it left while we waited
            return
        if mode == "bars":
            self._bars_snapshot(client, rooms, days)
            return
        index = MODE_INDEX[mode]
        items: list[bytes] = []
        floors: dict[str, int] = {}
        for room, raw in zip(rooms, latest, strict=True):
            head = None if raw is None else self.fanout.check(room, raw)
            if raw is None or head is None:
                continue
            if index == 0 and client.held is not None:
                items.append(key_bytes(raw))  # compact: a key row, and the client holds it
                client.held[room.symbol] = raw
            else:
                items.append(raw)
            floors[room.symbol] = head.seq
            room.floors[client] = head.seq
        if floors:
            client.pending[index] = [
                e for e in client.pending[index] if e.seq > floors.get(e.symbol, -1)
            ]
        client.control.append(snapshot_frame("ticks" if mode == "quote" else "depth", items))
        self.fanout.touch(client)

    def _bars_snapshot(self, client: Client, rooms: list[Room], days: list[list[bytes]]) -> None:
        """``{"bars": [...]}``: each symbol's stored bars of the day, checked, oldest first."""
        items: list[bytes] = []
        floors: dict[str, int] = {}
        for room, day in zip(rooms, days, strict=True):
            last = -1
            for raw in day:
                entry = self.fanout.check_bar(room, raw)
                if entry is not None and entry.seq > last:  # a list out of order: skip back-steps
                    items.append(raw)
                    last = entry.seq
            if last >= 0:
                floors[room.symbol] = last
                room.floors[client] = last
        if floors:
            client.pending[BARS] = [
                e for e in client.pending[BARS] if e.seq > floors.get(e.symbol, -1)
            ]
        client.control.append(snapshot_frame("bars", items))
        self.fanout.touch(client)

    async def unsubscribe(self, sid: str, data: object) -> dict[str, Any]:
        client = self._client(sid)
        self._admit(client)
        request = parse_symbols(data)
        left = self.rooms.leave(client, request.mode, request.symbols)
        await self.quotas.release_symbols(client.user, left)
        return {"ok": True, "unsubscribed": request.symbols}

    async def refresh(self, sid: str, data: object) -> dict[str, Any]:
        client = self._client(sid)
        self._admit(client)
        token = parse_refresh(data)
        claims = await self.auth.check(token)
        if claims.sub != client.user:
            raise AuthRefused("other_user", "forbidden: token of another user", ErrorCode.FORBIDDEN)
        client.exp = claims.exp
        self.clients.rebind_session(client, claims.sid)
        self.expiry.track(client, claims.iat)
        return {"ok": True, "exp": claims.exp}

    # --- events from Redis ---------------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        if channel.startswith(names.TICK_CHANNEL_PREFIX):
            self.metrics.messages_in.labels("tick").inc()
            self.fanout.on_message(channel, data)
        elif channel.startswith(names.DEPTH_CHANNEL_PREFIX):
            self.metrics.messages_in.labels("depth").inc()
            self.fanout.on_message(channel, data)
        elif channel.startswith(names.BAR_CHANNEL_PREFIX):
            self.metrics.messages_in.labels("bar").inc()
            self.fanout.on_message(channel, data)
        elif channel == names.STATUS:
            self.metrics.messages_in.labels("status").inc()
            self.status.on_message(data)
        elif channel == names.SESSION_REVOKED:
            self.metrics.messages_in.labels("revocation").inc()
            self._on_revocation(data)
        elif channel == names.SYMBOL_VERDICT_CHANNEL:
            self.metrics.messages_in.labels("verdict").inc()
            self.verdicts.on_message(data)

    def _on_revocation(self, data: bytes) -> None:
        try:
            revocation = decode(data, Revocation)
        except WireError as exc:
            log.warning("ignoring bad revocation", extra={"error": str(exc)})
            return
        self.revoked.add(revocation.sid)
        for client in self.clients.of_session(revocation.sid):
            self.disconnector.kick(client, ByeCode.SESSION_REVOKED, "session ended (logged out)")

    def _on_redis_down(self) -> None:
        log.warning("redis unavailable; clients stay connected, status degraded")
        self.status.redis_down()

    def _on_redis_up(self) -> None:
        self._resync.set()

    async def _resync_loop(self) -> None:
        """After (re)connecting to Redis: status, and the latest value of every room."""
        while True:
            await self._resync.wait()
            self._resync.clear()
            # After a Redis restart the store's pooled connections are stale and fail once
            # each: retry until a resync goes through (or the bus is down again; its next
            # on_up starts over), else clients stay "degraded" and miss the catch-up.
            while True:
                if await self._resync_once() or not self.bus.up:
                    break
                await asyncio.sleep(_RESYNC_RETRY)

    async def _resync_once(self) -> bool:
        if not await self.status.redis_up(self.store):
            return False
        self.demand.changed()
        for mode in MODES:
            try:
                await self._catch_up(mode)
            except StoreUnavailable:
                return False
        return True

    async def _catch_up(self, mode: Mode) -> None:
        symbols = self.rooms.symbols(mode)
        for start in range(0, len(symbols), _RESYNC_CHUNK):
            chunk = symbols[start : start + _RESYNC_CHUNK]
            if mode == "bars":
                self._catch_up_bars(chunk, await self.store.bars(chunk, last=True))
                continue
            values = await self.store.latest(mode, chunk)
            for symbol, raw in zip(chunk, values, strict=True):
                if raw is None:
                    continue
                room = self.rooms.room(channel_of(mode, symbol))
                head = None if room is None else checked_head(raw, room.symbol, self.metrics)
                if room is None or head is None:
                    continue
                # Not newer than what the room relayed: nothing was missed for this symbol.
                self.fanout.relay(room, Entry(head.symbol, head.seq, head.ingest_ts, raw))

    def _catch_up_bars(self, symbols: list[str], tails: list[list[bytes]]) -> None:
        """Relay each bars room's newest stored bar (not newer than it holds: dropped)."""
        for symbol, tail in zip(symbols, tails, strict=True):
            room = self.rooms.room(channel_of("bars", symbol))
            for raw in tail:
                entry = None if room is None else checked_bar(raw, symbol, self.metrics)
                if room is not None and entry is not None:
                    self.fanout.relay(room, entry)

    # --- to clients ----------------------------------------------------------------------------

    def _broadcast(self, frame: bytes) -> None:
        for client in self.clients:
            client.control.append(frame)
            self.fanout.touch(client)

    def _on_rooms_changed(self) -> None:
        self.demand.changed()

    def _on_slow(self, client: Client) -> None:
        self.disconnector.kick(
            client, ByeCode.SLOW_CONSUMER,
            f"outgoing buffer stayed over {self.settings.client_buffer_bytes} bytes for "
            f"{self.settings.slow_consumer_seconds:g}s",
        )  # fmt: skip

    def _on_expiring(self, client: Client) -> None:
        client.control.append(expiring_frame(client.exp))
        self.fanout.touch(client)

    def _on_expired(self, client: Client) -> None:
        if client.exp <= time.time():
            self.disconnector.kick(client, ByeCode.TOKEN_EXPIRED, "access token expired")
