"""Several HSM sockets behind one :class:`~livews_marketdata.upstream.fyers.Connection`.

Fyers limits the topics of one data socket (5,000 in the SDK; plans may allow fewer), so when
demand exceeds ``per_socket`` topics (a quote and a depth subscription count one each) the
leader opens another socket, up to ``max_sockets``. Each topic is pinned to one socket (the
first with room, in order); a socket whose topics all went stays open, idle, until it is the first
with room to take new ones.

Each socket is supervised on its own: when one closes (dropped by the server, a network
error), only that socket is rebuilt — after a jittered backoff — re-authenticated and
resubscribed with exactly its topics; the others keep streaming. What concerns the whole
upstream still goes to the supervisor through the shared :class:`Bridge`: auth results, the
expired-token and refused-auth errors (after which it tears all sockets down and reconnects
with a new token), symbol-limit refusals and the data itself. The supervisor's stall
watchdog keeps watching the sum of all sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from livews_marketdata.errors import UpstreamError
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.hsm.client import HsmConnection

log = logging.getLogger(__name__)

#: ``(sink) → a new, unopened socket`` whose events go to ``sink``.
SocketFactory = Callable[["_ShardSink"], HsmConnection]


class _ShardSink:
    """What one socket reports: data straight to the bridge; closes kept for its shard."""

    def __init__(self, owner: MultiSocket, shard: _Shard, bridge: Bridge, generation: int) -> None:
        self._owner, self._shard = owner, shard
        self._bridge, self._generation = bridge, generation
        self.active = True  # False once this socket was replaced or closed

    def push_data(self, generation: int, update: object) -> None:
        if self.active:
            self._bridge.push_data(self._generation, update)

    def push_batch(self, generation: int, updates: list[object]) -> None:
        if self.active:
            self._bridge.push_batch(self._generation, updates)

    def push_control(self, generation: int, kind: str, payload: Any) -> None:
        if not self.active:
            return
        if isinstance(payload, dict) and payload.get("type") == "cn":
            if payload.get("code") == 200:
                self._shard.authed.set()
        if kind == "close" and self._owner.lost(self._shard):
            return
        self._bridge.push_control(self._generation, kind, payload)


class _Shard:
    def __init__(self, index: int) -> None:
        self.index = index
        self.socket: HsmConnection | None = None
        self.sink: _ShardSink | None = None
        self.authed = asyncio.Event()
        self.topics: dict[str, set[str]] = {}  # data type → symbols
        self.rebuild: asyncio.Task[None] | None = None
        self.rebuilds = 0

    @property
    def load(self) -> int:
        return sum(len(s) for s in self.topics.values())


class MultiSocket:
    """Spreads subscriptions over up to ``max_sockets`` sockets (see the module docstring)."""

    def __init__(
        self,
        make_socket: SocketFactory,
        *,
        bridge: Bridge,
        generation: int,
        per_socket: int,
        max_sockets: int,
        auth_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self._make = make_socket
        self._bridge, self._generation = bridge, generation
        self.per_socket, self.max_sockets = per_socket, max_sockets
        self._auth_timeout = auth_timeout
        self._backoff = (backoff_base, backoff_max)
        self.shards: list[_Shard] = []
        self._where: dict[tuple[str, str], _Shard] = {}  # (data type, symbol) → its socket
        self._closing = False

    # -- sockets --------------------------------------------------------------------------

    async def _start(self, shard: _Shard) -> None:
        sink = _ShardSink(self, shard, self._bridge, self._generation)
        shard.authed.clear()
        shard.sink, shard.socket = sink, self._make(sink)
        await shard.socket.open()

    async def open(self) -> None:
        """Open the first socket; its auth reply reaches the supervisor like a single one's."""
        shard = _Shard(0)
        self.shards.append(shard)
        await self._start(shard)

    async def _ready(self, shard: _Shard) -> HsmConnection:
        try:
            await asyncio.wait_for(shard.authed.wait(), self._auth_timeout)
        except TimeoutError:
            raise UpstreamError("connect_timeout", f"socket {shard.index}: no auth reply") from None
        assert shard.socket is not None
        return shard.socket

    def lost(self, shard: _Shard) -> bool:
        """A socket closed: rebuild it alone; False when the supervisor should hear of it.

        With a single socket the close goes to the supervisor, which reconnects (and counts
        it) exactly as before there were several.
        """
        if self._closing:
            return True
        if len(self.shards) == 1 and shard.rebuild is None:
            return False
        if shard.rebuild is not None and not shard.rebuild.done():
            return True
        if shard.sink is not None:
            shard.sink.active = False
        shard.rebuild = asyncio.get_running_loop().create_task(
            self._rebuild(shard), name=f"hsm-socket-{shard.index}-rebuild"
        )
        return True

    async def _rebuild(self, shard: _Shard) -> None:
        base, cap = self._backoff
        attempt = 0
        while not self._closing:
            delay = min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            log.warning(
                "upstream socket lost; rebuilding it alone",
                extra={"socket": shard.index, "topics": shard.load, "delay": round(delay, 2)},
            )
            await asyncio.sleep(delay)
            old = shard.socket
            if old is not None:
                await old.close(1.0)
            try:
                await self._start(shard)
                socket = await self._ready(shard)
                for data_type, symbols in shard.topics.items():
                    if symbols:
                        await socket.subscribe(sorted(symbols), data_type)
            except UpstreamError as exc:
                log.warning(
                    "socket rebuild failed", extra={"socket": shard.index, "error": str(exc)}
                )
                if shard.sink is not None:
                    shard.sink.active = False
                continue
            shard.rebuilds += 1
            log.info("upstream socket rebuilt", extra={"socket": shard.index, "topics": shard.load})
            return

    # -- subscriptions --------------------------------------------------------------------

    def _place(self, data_type: str, symbol: str) -> _Shard | None:
        for shard in self.shards:
            if shard.load < self.per_socket:
                break
        else:
            if len(self.shards) >= self.max_sockets:
                return None
            shard = _Shard(len(self.shards))
            self.shards.append(shard)
        shard.topics.setdefault(data_type, set()).add(symbol)
        self._where[(data_type, symbol)] = shard
        return shard

    async def subscribe(self, symbols: list[str], data_type: str) -> None:
        groups: dict[int, list[str]] = {}
        for symbol in symbols:
            if (data_type, symbol) in self._where:
                continue
            shard = self._place(data_type, symbol)
            if shard is None:
                log.error("no socket has room for %s", symbol)
                continue
            groups.setdefault(shard.index, []).append(symbol)
        for index, group in groups.items():
            shard = self.shards[index]
            if shard.socket is None:
                await self._start(shard)
            if shard.rebuild is not None and not shard.rebuild.done():
                continue  # the rebuild subscribes its whole set
            socket = await self._ready(shard)
            await socket.subscribe(group, data_type)

    async def unsubscribe(self, symbols: list[str], data_type: str) -> None:
        groups: dict[int, list[str]] = {}
        for symbol in symbols:
            shard = self._where.pop((data_type, symbol), None)
            if shard is not None:
                shard.topics.get(data_type, set()).discard(symbol)
                groups.setdefault(shard.index, []).append(symbol)
        for index, group in groups.items():
            shard = self.shards[index]
            socket = shard.socket
            if socket is None or (shard.rebuild is not None and not shard.rebuild.done()):
                continue
            await socket.unsubscribe(group, data_type)

    async def close(self, grace: float = 3.0) -> None:
        self._closing = True
        for shard in self.shards:
            if shard.rebuild is not None:
                shard.rebuild.cancel()
            if shard.sink is not None:
                shard.sink.active = False
        for shard in self.shards:
            if shard.rebuild is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await shard.rebuild
            if shard.socket is not None:
                await shard.socket.close(grace)
