"""The Redis implementation of :class:`~livews_gateway.bus.Bus` (contract in ``bus.py``).

One dedicated subscriber connection per process. redis-py's own retries are switched off
so that a lost connection is seen at once: the reader then reports ``on_down``, backs off
with jitter, opens a fresh connection, subscribes every held channel again and reports
``on_up`` once Redis confirmed them all. An idle connection is pinged, so a Redis that
stopped answering without closing the socket is noticed too.

On a Redis Cluster (``redis+cluster://``) the tick, depth and bar channels are shard channels
(``names.is_sharded_channel``): the bus keeps one connection per shard primary that carries
any of them and ``SSUBSCRIBE``s each channel there (one command per slot); the other channels
(``md:status``, verdicts, revocations) go over one classic ``SUBSCRIBE`` connection. The
connections live and die together: when any of them fails (its primary died), or a shard drops
a channel that is still held (its slot moved away: Redis sends ``sunsubscribe``), the whole
subscriber reconnects exactly as after a Redis blip — ``on_down``, a fresh slot map, every
held channel subscribed again where it lives now, ``on_up`` — and the owner catches up from
``md:last`` as it always does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

from livews_common import names, redisconn
from livews_gateway.bus import MessageHandler, StateHandler

log = logging.getLogger(__name__)

_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 2.0
_IDLE_PING = 3.0  # seconds without traffic before pinging
_PING_DEADLINE = 3.0  # seconds a ping may stay unanswered
# PubSub reads only once subscribed to something; used when nothing is held yet. Under gw:*,
# the gateway user's own channels (any other name is refused with NOPERM).
_NOOP_CHANNEL = "gw:idle"


class RedisBus:
    """Reference-counted Redis pub/sub subscriptions with reconnects (see ``bus.py``)."""

    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        on_up: StateHandler | None = None,
        on_down: StateHandler | None = None,
    ) -> None:
        self._url = url
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._held: Counter[str] = Counter()
        self._to_subscribe: set[str] = set()
        self._to_unsubscribe: set[str] = set()
        self._wake = asyncio.Event()
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._up = False
        self.reconnects = 0

    @property
    def up(self) -> bool:
        return self._up

    @property
    def channels(self) -> list[str]:
        return list(self._held)

    async def acquire(self, channels: Collection[str], *, wait: float = 1.0) -> bool:
        for channel in channels:
            if self._held[channel] == 0:
                self._to_subscribe.add(channel)
                self._to_unsubscribe.discard(channel)
            self._held[channel] += 1
        self._wake.set()
        waiting = [c for c in channels if c not in self._confirmed]
        if not waiting:
            return True
        if not self._up:
            return False  # subscribed as soon as the connection is back
        loop = asyncio.get_running_loop()
        futures = []
        for channel in waiting:
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(channel, []).append(future)
            futures.append(future)
        _done, pending = await asyncio.wait(futures, timeout=wait)
        for future in pending:
            future.cancel()
        return not pending

    def release(self, channels: Collection[str]) -> None:
        for channel in channels:
            if self._held[channel] <= 0:
                continue
            self._held[channel] -= 1
            if self._held[channel] == 0:
                del self._held[channel]
                self._confirmed.discard(channel)
                self._to_subscribe.discard(channel)
                self._to_unsubscribe.add(channel)
                self._wake.set()

    async def run(self) -> None:
        backoff = _BACKOFF_MIN
        while True:
            client = redisconn.connect(self._url, **_OPTIONS)
            links = _Links(self._url, client)
            reached = stopping = False
            try:
                await self._session(links)
            except asyncio.CancelledError:
                stopping = True
                raise
            except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
                if self._up:
                    log.warning("redis subscriber lost; reconnecting", extra={"error": repr(exc)})
                else:
                    log.debug("redis subscriber unavailable", extra={"error": repr(exc)})
            except Exception:  # a bug or a protocol surprise: log it, then start over
                log.exception("redis subscriber failed; reconnecting")
            finally:
                reached = self._up
                self._up = False
                self._confirmed.clear()
                await links.aclose()
                if reached and not stopping and self._on_down is not None:
                    self._on_down()
            if reached:
                backoff = _BACKOFF_MIN
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(_BACKOFF_MAX, backoff * 2)

    async def _session(self, links: _Links) -> None:
        """One connection set's life: subscribe everything held, then read and write."""
        self._to_subscribe.clear()
        self._to_unsubscribe.clear()
        await links.start()
        channels = list(self._held) or [_NOOP_CHANNEL]
        awaiting = set(channels)
        links.on_new = lambda pubsub: self._read(links, pubsub, awaiting)
        await links.subscribe(channels)
        writer = asyncio.create_task(self._write(links))
        try:
            done, _ = await asyncio.wait(
                (writer, links.failed), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await links.stop()
        for task in done:
            task.result()  # the failure that ended the session

    async def _write(self, links: _Links) -> None:
        """The only writer on the connections: (un)subscribes as channels are (re)held."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            subscribe = [c for c in self._to_subscribe if self._held[c] > 0]
            unsubscribe = [c for c in self._to_unsubscribe if self._held[c] == 0]
            self._to_subscribe.clear()
            self._to_unsubscribe.clear()
            if subscribe:
                await links.subscribe(subscribe)
            if unsubscribe:
                await links.unsubscribe(unsubscribe)

    async def _read(self, links: _Links, pubsub: PubSub, awaiting: set[str]) -> None:
        last_rx = time.monotonic()
        ping_sent: float | None = None
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if ping_sent is not None and now - ping_sent > _PING_DEADLINE:
                    raise TimeoutError("redis did not answer a ping")
                if ping_sent is None and now - last_rx > _IDLE_PING and pubsub.subscribed:
                    await pubsub.ping()
                    ping_sent = now
                continue
            last_rx = now
            ping_sent = None
            kind = message["type"]
            if kind in ("message", "smessage"):
                self._on_message(message["channel"].decode(), message["data"])
            elif kind in ("subscribe", "ssubscribe"):
                channel = message["channel"].decode()
                self._confirm(channel)
                if awaiting:
                    awaiting.discard(channel)
                    if not awaiting:
                        self._connected()
            elif kind == "sunsubscribe" and not links.unsubscribed(message["channel"].decode()):
                # Redis dropped a channel we still hold: its slot moved to another shard.
                raise _SlotMoved(message["channel"].decode())

    def _connected(self) -> None:
        self._up = True
        self.reconnects += 1
        if self._on_up is not None:
            self._on_up()

    def _confirm(self, channel: str) -> None:
        if self._held[channel] > 0:
            self._confirmed.add(channel)
        for future in self._waiters.pop(channel, ()):
            if not future.done():
                future.set_result(None)


# redis-py's own retries off (a lost connection is seen at once), short connect timeout.
_OPTIONS: dict[str, Any] = {
    "retry": Retry(NoBackoff(), 0),
    "socket_connect_timeout": 2.0,
    "socket_keepalive": True,
}


class _SlotMoved(RedisError):
    """A shard unsubscribed a held channel (its slot moved): start over with a fresh map."""


class _Links:
    """The subscriber connections of one session: one on a single Redis (or Sentinel); on a
    Cluster one classic connection plus one per shard primary carrying a held shard channel.

    ``on_new(pubsub)`` makes the reader of each connection as it is opened; the first reader
    to fail resolves :attr:`failed` with its error.
    """

    def __init__(self, url: str, client: aioredis.Redis) -> None:
        self._url = url
        self._client = client
        self._cluster: RedisCluster | None = client if isinstance(client, RedisCluster) else None
        self._pubsubs: dict[str, PubSub] = {}  # "" = classic; else the shard primary's name
        self._node_clients: list[aioredis.Redis] = []
        self._readers: list[asyncio.Task[None]] = []
        self._read: set[str] = set()  # links whose reader runs
        self._where: dict[str, str] = {}  # shard channel → link name
        self._unsubscribing: Counter[str] = Counter()
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_new: Any = None

    async def start(self) -> None:
        if self._cluster is not None:
            await self._cluster.initialize()  # the slot map

    def _link(self, name: str) -> PubSub:
        pubsub = self._pubsubs.get(name)
        if pubsub is None:
            if self._cluster is None:
                pubsub = self._client.pubsub()
            else:
                node = (
                    self._cluster.get_node(node_name=name) if name
                    else random.choice(self._cluster.get_primaries())
                )  # fmt: skip
                if node is None:
                    raise _SlotMoved(name)
                target = redisconn.parse(self._url)
                client = aioredis.Redis(
                    host=node.host, port=int(node.port), username=target.username,
                    password=target.password, ssl=target.tls, **_OPTIONS,
                )  # fmt: skip
                self._node_clients.append(client)
                pubsub = client.pubsub()
            self._pubsubs[name] = pubsub
        return pubsub

    def _reading(self, name: str) -> None:
        """Start the reader of link ``name`` once it sent its first (s)subscribe."""
        if name not in self._read:
            self._read.add(name)
            reader = asyncio.create_task(self.on_new(self._pubsubs[name]))
            reader.add_done_callback(self._reader_done)
            self._readers.append(reader)

    def _reader_done(self, task: asyncio.Task[None]) -> None:
        if self.failed.done() or task.cancelled():
            return
        exc = task.exception()
        self.failed.set_exception(exc or RuntimeError("redis subscriber reader ended"))

    def _shard(self, channel: str) -> str | None:
        """The name of the shard primary serving ``channel``, or None for a classic one."""
        if self._cluster is None or not names.is_sharded_channel(channel):
            return None
        node = self._cluster.get_node_from_key(channel)
        if node is None:
            raise _SlotMoved(channel)
        return str(node.name)

    async def subscribe(self, channels: list[str]) -> None:
        classic: list[str] = []
        by_slot: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        for channel in channels:
            shard = self._shard(channel)
            if shard is None:
                classic.append(channel)
            else:
                self._where[channel] = shard
                by_slot[shard, key_slot(channel.encode())].append(channel)
        if classic:
            await self._link("").subscribe(*classic)
            self._reading("")
        for (shard, _slot), group in by_slot.items():  # SSUBSCRIBE takes one slot at a time
            await self._link(shard).ssubscribe(*group)
            self._reading(shard)

    async def unsubscribe(self, channels: list[str]) -> None:
        classic: list[str] = []
        by_slot: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        for channel in channels:
            shard = self._where.pop(channel, None)
            if shard is not None:
                self._unsubscribing[channel] += 1
                by_slot[shard, key_slot(channel.encode())].append(channel)
            elif self._cluster is None or not names.is_sharded_channel(channel):
                classic.append(channel)
            # else: a shard channel released before it was subscribed: nothing to undo
        if classic and "" in self._pubsubs:
            await self._pubsubs[""].unsubscribe(*classic)
        for (shard, _slot), group in by_slot.items():
            await self._link(shard).sunsubscribe(*group)

    def unsubscribed(self, channel: str) -> bool:
        """A ``sunsubscribe`` for ``channel`` arrived: True if we asked for it."""
        if self._unsubscribing[channel] <= 0:
            return False
        self._unsubscribing[channel] -= 1
        if not self._unsubscribing[channel]:
            del self._unsubscribing[channel]
        return True

    async def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        if not self.failed.done():
            self.failed.cancel()

    async def aclose(self) -> None:
        await self.stop()
        for pubsub in self._pubsubs.values():
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except (RedisError, OSError):
                pass
        for client in [*self._node_clients, self._client]:
            try:
                await client.aclose()
            except (RedisError, RedisClusterException, OSError):
                pass
