"""The Redis implementation of :class:`~livews_gateway.bus.Bus` (contract in ``bus.py``).

One dedicated subscriber connection per process. redis-py's own retries are switched off
so that a lost connection is seen at once: the reader then reports ``on_down``, backs off
with jitter, opens a fresh connection, subscribes every held channel again and reports
``on_up`` once Redis confirmed them all. An idle connection is pinged, so a Redis that
stopped answering without closing the socket is noticed too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Collection

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from livews_common import redisconn
from livews_gateway.bus import MessageHandler, StateHandler

log = logging.getLogger(__name__)

_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 2.0
_IDLE_PING = 3.0  # seconds without traffic before pinging
_PING_DEADLINE = 3.0  # seconds a ping may stay unanswered
# PubSub reads only once subscribed to something; used when nothing is held yet.
_NOOP_CHANNEL = "livews:gateway:idle"


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
            client = redisconn.connect(
                self._url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0,
                socket_keepalive=True,
            )  # fmt: skip
            pubsub = client.pubsub()
            reached = stopping = False
            try:
                await self._session(pubsub)
            except asyncio.CancelledError:
                stopping = True
                raise
            except (RedisError, OSError, TimeoutError) as exc:
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
                await _close_quietly(pubsub, client)
                if reached and not stopping and self._on_down is not None:
                    self._on_down()
            if reached:
                backoff = _BACKOFF_MIN
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(_BACKOFF_MAX, backoff * 2)

    async def _session(self, pubsub: PubSub) -> None:
        """One connection's life: subscribe everything held, then read and write."""
        self._to_subscribe.clear()
        self._to_unsubscribe.clear()
        channels = list(self._held) or [_NOOP_CHANNEL]
        await pubsub.subscribe(*channels)
        reader = asyncio.create_task(self._read(pubsub, set(channels)))
        writer = asyncio.create_task(self._write(pubsub))
        try:
            done, _ = await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        for task in done:
            task.result()  # the failure that ended the session

    async def _write(self, pubsub: PubSub) -> None:
        """The only writer on the connection: (un)subscribes as channels are (re)held."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            subscribe = [c for c in self._to_subscribe if self._held[c] > 0]
            unsubscribe = [c for c in self._to_unsubscribe if self._held[c] == 0]
            self._to_subscribe.clear()
            self._to_unsubscribe.clear()
            if subscribe:
                await pubsub.subscribe(*subscribe)
            if unsubscribe:
                await pubsub.unsubscribe(*unsubscribe)

    async def _read(self, pubsub: PubSub, awaiting: set[str]) -> None:
        last_rx = time.monotonic()
        ping_sent: float | None = None
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if ping_sent is not None and now - ping_sent > _PING_DEADLINE:
                    raise TimeoutError("redis did not answer a ping")
                if ping_sent is None and now - last_rx > _IDLE_PING:
                    await pubsub.ping()
                    ping_sent = now
                continue
            last_rx = now
            ping_sent = None
            kind = message["type"]
            if kind == "message":
                self._on_message(message["channel"].decode(), message["data"])
            elif kind == "subscribe":
                channel = message["channel"].decode()
                self._confirm(channel)
                if awaiting:
                    awaiting.discard(channel)
                    if not awaiting:
                        self._connected()

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


async def _close_quietly(pubsub: PubSub, client: aioredis.Redis) -> None:
    try:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    except (RedisError, OSError):
        pass
