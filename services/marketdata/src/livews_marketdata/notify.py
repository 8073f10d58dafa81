"""One Redis pub/sub connection for the fleet's control channels (demand, feed token).

Contract: handlers run on the event loop, in message order, and must not block (they set
events). Pub/sub is at-most-once, so after every (re)subscription each channel's ``resync``
runs: whoever listens re-reads the state the channel announces changes of.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from livews_marketdata.backoff import Backoff
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]


class Notifications:
    """Subscribes the registered channels and dispatches their messages."""

    def __init__(self, redis: aioredis.Redis, *, backoff: Backoff | None = None) -> None:
        self._redis = redis
        self._handlers: dict[str, list[Handler]] = {}
        self._resyncs: list[Callable[[], None]] = []
        self._backoff = backoff or Backoff(0.1, 2.0)
        self.subscribed = asyncio.Event()

    def on(self, channel: str, handler: Handler, resync: Callable[[], None] | None = None) -> None:
        """Call ``handler(data)`` per message on ``channel``; ``resync()`` after each subscribe."""
        self._handlers.setdefault(channel, []).append(handler)
        if resync is not None:
            self._resyncs.append(resync)

    async def run(self) -> None:
        """Listen until cancelled, resubscribing with backoff whenever the connection fails."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._handlers)
                self.subscribed.set()
                self._backoff.reset()
                for resync in self._resyncs:
                    resync()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    data = message["data"]
                    for handler in self._handlers.get(channel, ()):
                        handler(data if isinstance(data, bytes) else str(data).encode())
            except TRANSIENT as exc:
                # Say it once per outage, not once per retry.
                level = logging.WARNING if self.subscribed.is_set() else logging.DEBUG
                self.subscribed.clear()
                log.log(
                    level,
                    "control-channel subscription lost; resubscribing",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            finally:
                try:
                    await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]
                except TRANSIENT:
                    pass
            await self._backoff.sleep()
