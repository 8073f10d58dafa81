"""What must be subscribed upstream: the watchlist plus the union of every gateway's demand.

Contract of :class:`DemandSource`: ``current()`` is the newest known union (the watchlist is
always in ``quote``); ``changed`` is set whenever it differs from what it was. A Redis
outage keeps the last known demand (it never shrinks to the watchlist because Redis blinked).

Gateways write ``md:demand:{instance}`` (a :class:`~livews_common.models.DemandRecord` with
a TTL, refreshed every few seconds) and publish their instance id on ``md:demand``.
:class:`RedisDemand` rescans on each notification (debounced, so a burst of changes costs
one scan) and every ``rescan`` seconds, so the demand of a dead gateway fades once its key
expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from livews_common import names, redisconn
from livews_common.models import DemandRecord, WireError, decode
from livews_common.symbols import is_index, is_valid_symbol
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)

_SCAN_COUNT = 500
_MGET_CHUNK = 500


@dataclass(frozen=True)
class Demand:
    """Symbols wanted upstream: quotes (watchlist included) and depth (never an index)."""

    quote: frozenset[str]
    depth: frozenset[str]

    @classmethod
    def of(cls, quote: Iterable[str], depth: Iterable[str] = ()) -> Demand:
        return cls(
            frozenset(s for s in quote if is_valid_symbol(s)),
            frozenset(s for s in depth if is_valid_symbol(s) and not is_index(s)),
        )

    @property
    def symbols(self) -> frozenset[str]:
        return self.quote | self.depth


class DemandSource(Protocol):
    """The current upstream demand (see the module docstring for the contract)."""

    changed: asyncio.Event

    def current(self) -> Demand: ...


class MemoryDemand:
    """Demand set by hand, for tests and for sources that need no gateways."""

    def __init__(self, watchlist: Iterable[str], depth: Iterable[str] = ()) -> None:
        self._watchlist = tuple(watchlist)
        self._demand = Demand.of(self._watchlist, depth)
        self.changed = asyncio.Event()

    def current(self) -> Demand:
        return self._demand

    def set(self, quote: Iterable[str] = (), depth: Iterable[str] = ()) -> None:
        demand = Demand.of((*self._watchlist, *quote), depth)
        if demand != self._demand:
            self._demand = demand
            self.changed.set()


class RedisDemand:
    """The union of the gateways' ``md:demand:*`` records and the watchlist."""

    def __init__(
        self,
        redis: aioredis.Redis,
        watchlist: Iterable[str],
        *,
        debounce: float = 0.1,
        rescan: float = 5.0,
        hold: float = 15.0,
    ) -> None:
        self._redis = redis
        self._watchlist = tuple(watchlist)
        self._debounce = debounce
        self._rescan = rescan
        self._hold = hold
        self._hold_until = float("-inf")
        self._resyncs = 0
        self._demand = Demand.of(self._watchlist)
        self._poke = asyncio.Event()
        self.changed = asyncio.Event()
        self.scanned = asyncio.Event()  # set after the first successful scan

    def current(self) -> Demand:
        return self._demand

    def notify(self, _data: bytes = b"") -> None:
        """A gateway announced a change (or the subscription was re-established)."""
        self._poke.set()

    def resync(self) -> None:
        """The notification channel was (re)subscribed: messages may have been missed.

        After a reconnection (not the first subscription) demand may grow but not shrink for
        ``hold`` seconds: a restarted Redis has lost every gateway's record until they next
        refresh it, and unsubscribing everything meanwhile would be wrong.
        """
        self._resyncs += 1
        if self._resyncs > 1:
            self._hold_until = time.monotonic() + self._hold
        self._poke.set()

    async def run(self) -> None:
        """Rescan on notifications and periodically, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self._rescan)
                if self._debounce:
                    await asyncio.sleep(self._debounce)  # let a burst of changes settle
            self._poke.clear()
            try:
                demand = await self.scan()
            except TRANSIENT as exc:
                log.warning("demand scan failed; keeping the last known demand",
                            extra={"error": str(exc)})  # fmt: skip
                await asyncio.sleep(min(1.0, self._rescan))
                continue
            self.scanned.set()
            if time.monotonic() < self._hold_until:
                demand = Demand(
                    demand.quote | self._demand.quote, demand.depth | self._demand.depth
                )
            if demand != self._demand:
                log.info(
                    "upstream demand changed",
                    extra={"quote": len(demand.quote), "depth": len(demand.depth)},
                )
                self._demand = demand
                self.changed.set()

    async def scan(self) -> Demand:
        """Read every live demand record now."""
        keys: list[bytes] = [
            key async for key in self._redis.scan_iter(
                match=names.DEMAND_KEY_PREFIX + "*", count=_SCAN_COUNT
            )
        ]  # fmt: skip
        quote: set[str] = set(self._watchlist)
        depth: set[str] = set()
        for start in range(0, len(keys), _MGET_CHUNK):
            values = await redisconn.mget(self._redis, keys[start : start + _MGET_CHUNK])
            for key, value in zip(keys[start : start + _MGET_CHUNK], values, strict=True):
                if value is None:
                    continue  # expired between SCAN and MGET
                try:
                    record = decode(value, DemandRecord)
                except WireError as exc:
                    name = key.decode(errors="replace")
                    log.warning(
                        "ignoring a malformed demand record", extra={"key": name, "error": str(exc)}
                    )
                    continue
                quote.update(record.quote)
                depth.update(record.depth)
        return Demand.of(quote, depth)
