"""The pub/sub side of Redis as the gateway uses it: channels held by reference count.

Contract of a :class:`Bus`:

* **Subscriptions** are reference counted per channel: ``acquire`` subscribes a channel
  when it is held for the first time, ``release`` unsubscribes it when it is no longer
  held. One process holds one subscription per channel however many clients want it.
* **Delivery** is at-most-once (Redis pub/sub): the ``on_message(channel, data)`` callback
  runs on the event loop, one message at a time, in publish order per channel. It must not
  block. While the connection is down messages are lost; when it is back, every held
  channel is subscribed again and ``on_up`` runs, so the owner can re-read the latest
  values (``md:last``) it may have missed.
* **Ownership**: the bus owns its connection and its reader; ``run()`` is the reader and
  the reconnect loop, to be run as a task by the owner and cancelled on shutdown.

:class:`MemoryBus` (here) is the in-process implementation for unit tests;
:class:`~livews_gateway.redis_bus.RedisBus` is the real one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection
from typing import Protocol

MessageHandler = Callable[[str, bytes], None]
StateHandler = Callable[[], None]


class Bus(Protocol):
    """Reference-counted pub/sub subscriptions (see the module doc)."""

    @property
    def up(self) -> bool:
        """True while subscribed and reading."""

    async def acquire(self, channels: Collection[str], *, wait: float = 1.0) -> bool:
        """Hold ``channels`` once more; returns when the server confirmed the new ones
        (True) or after ``wait`` seconds (False: they are subscribed once the connection is back).
        """

    def release(self, channels: Collection[str]) -> None:
        """Hold ``channels`` once less, unsubscribing those no longer held; does not wait."""

    async def run(self) -> None:
        """Read messages (and reconnect) until cancelled."""


class MemoryBus:
    """An in-process bus: ``publish`` delivers to held channels on the next loop turn."""

    def __init__(
        self,
        on_message: MessageHandler,
        on_up: StateHandler | None = None,
        on_down: StateHandler | None = None,
    ) -> None:
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self.held: Counter[str] = Counter()
        self.subscribe_calls = 0
        self.unsubscribe_calls = 0
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    async def acquire(self, channels: Collection[str], *, wait: float = 1.0) -> bool:
        for channel in channels:
            if self.held[channel] == 0:
                self.subscribe_calls += 1
            self.held[channel] += 1
        return self._up

    def release(self, channels: Collection[str]) -> None:
        for channel in channels:
            if self.held[channel] <= 0:
                continue
            self.held[channel] -= 1
            if self.held[channel] == 0:
                del self.held[channel]
                self.unsubscribe_calls += 1

    def publish(self, channel: str, data: bytes) -> None:
        if self._up and self.held[channel] > 0:
            asyncio.get_running_loop().call_soon(self._on_message, channel, data)

    def set_up(self, up: bool) -> None:
        """Simulate the connection going away and coming back."""
        self._up = up
        handler = self._on_up if up else self._on_down
        if handler is not None:
            handler()

    async def run(self) -> None:
        await asyncio.Event().wait()
