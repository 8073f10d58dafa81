"""Announcing this process's demand to the ingestor (``md:demand:{instance}``).

The record lists every symbol some client here wants in each mode, plus the symbols a
subscribe is waiting for a verdict on (the ingestor learns whether the upstream knows a
symbol by asking for it). It is written with a TTL — a dead gateway's demand fades on its
own — refreshed every ``refresh`` seconds and, debounced, whenever it changes; each write
is followed by a PUBLISH on ``md:demand`` so the ingestor reacts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable

from livews_common.models import DemandRecord, encode
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.rooms import Rooms
from livews_gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

#: Changes within this many seconds are announced together.
DEBOUNCE = 0.05


class DemandAnnouncer:
    """Keeps ``md:demand:{instance}`` in step with the rooms (see the module doc)."""

    def __init__(
        self,
        store: Store,
        rooms: Rooms,
        metrics: GatewayMetrics,
        *,
        instance: str,
        ttl: float,
        refresh: float,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._metrics = metrics
        self._instance = instance
        self._ttl = ttl
        # Never let the record lapse between two refreshes.
        self._refresh = min(refresh, ttl / 3)
        self._probing: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._last: tuple[list[str], list[str]] | None = None
        self.healthy = False

    def changed(self) -> None:
        self._changed.set()

    def probe(self, symbols: Iterable[str]) -> None:
        """Ask for ``symbols`` upstream while a subscribe waits for their verdicts."""
        for symbol in symbols:
            self._probing[symbol] += 1
        self._changed.set()

    def unprobe(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            self._probing[symbol] -= 1
            if self._probing[symbol] <= 0:
                del self._probing[symbol]
        self._changed.set()

    def record(self) -> DemandRecord:
        # Bars are folded from a symbol's quotes: a bars room needs the quote feed too.
        rooms = self._rooms
        quote = sorted({*rooms.symbols("quote"), *rooms.symbols("bars"), *self._probing})
        return DemandRecord(
            instance=self._instance,
            quote=quote,
            depth=self._rooms.symbols("depth"),
            ts=int(time.time() * 1000),
        )

    async def run(self) -> None:
        """Announce now, then on every change (debounced) and every ``refresh`` seconds."""
        while True:
            try:
                await self.announce()
            except StoreUnavailable as exc:
                self.healthy = False
                log.debug("demand not announced", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._refresh)
                await asyncio.sleep(DEBOUNCE)

    async def announce(self) -> None:
        self._changed.clear()
        record = self.record()
        await self._store.announce(self._instance, encode(record), self._ttl)
        self.healthy = True
        self._metrics.demand_publishes.inc()
        current = (record.quote, record.depth)
        if current != self._last:
            log.debug(
                "demand announced", extra={"quote": len(record.quote), "depth": len(record.depth)}
            )
            self._last = current

    async def withdraw(self) -> None:
        """Delete the record (shutdown); the ingestor drops what only we wanted."""
        try:
            await self._store.withdraw(self._instance)
        except StoreUnavailable:
            log.warning("could not withdraw demand; it expires by its TTL")
