"""Lighter stand-ins for two asyncio objects uvicorn's websocket protocol keeps per connection.

uvicorn gives every websocket connection an ``asyncio.Queue`` for the ASGI receive side and
an ``asyncio.Event`` (``writable``) that ``send`` awaits; together with their deques and the
queue's own ``Event`` they cost ~3.5 KiB per connection (issue #17), most of it for the life
of an idle connection. uvicorn's use of them is narrow: it puts events with ``put_nowait``,
one task awaits ``get``, and reading is paused while a message waits, so at most a few
events are ever held; ``writable`` is cleared and set from the transport's flow control.

:class:`Inbox` and :class:`WriteGate` offer exactly those methods and allocate only while
they hold something: a list while events wait, a future while the receiver waits, an
``asyncio.Event`` while writing is paused. ``wsprotocol.py`` puts them in place of uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Inbox", "WriteGate"]


class Inbox:
    """uvicorn's ASGI receive queue: ``put_nowait``, ``get``, ``empty`` (one receiver)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        items = self._items
        item = items.pop(0)
        if not items:
            self._items = None
        return item


class WriteGate:
    """uvicorn's ``writable`` event: open unless the transport paused writing."""

    __slots__ = ("_paused",)

    def __init__(self) -> None:
        self._paused: asyncio.Event | None = None

    def is_set(self) -> bool:
        return self._paused is None

    def set(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.set()  # wakes every send() waiting for the buffer to drain

    def clear(self) -> None:
        if self._paused is None:
            self._paused = asyncio.Event()

    async def wait(self) -> None:
        paused = self._paused
        if paused is not None:
            await paused.wait()
