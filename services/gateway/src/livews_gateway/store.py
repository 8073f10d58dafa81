"""The key/value side of Redis as the gateway uses it (CONTRACT §4 and the fleet's names).

Contract of a :class:`Store`: every method is one round-trip; any failure to reach the
backend raises :class:`StoreUnavailable` (never a backend-specific error), so callers can
degrade instead of crash. Values are the raw JSON bytes stored under the names of
``livews_common.names``; decoding is the caller's business.

:class:`MemoryStore` (here) backs unit tests; :class:`~livews_gateway.redis_store.RedisStore`
is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from livews_common import names
from livews_gateway.clients import Mode
from livews_gateway.errors import GatewayError


class StoreUnavailable(GatewayError):
    """The store could not be reached (or did not answer in time)."""


class Store(Protocol):
    """Reads and writes the gateway makes outside pub/sub (see the module doc)."""

    async def latest(self, mode: Mode, symbols: Sequence[str]) -> list[bytes | None]:
        """``md:last`` (quote) or ``md:depth:last`` (depth) values, one per symbol (HMGET)."""

    async def bars(self, symbols: Sequence[str], *, last: bool = False) -> list[list[bytes]]:
        """The day's bars (``md:bars:1m:{SYMBOL}``, oldest first) per symbol (LRANGE each);
        with ``last`` only the newest bar of each (at most one)."""

    async def verdicts(self, symbols: Sequence[str]) -> list[bytes | None]:
        """The ingestor's SymbolVerdict JSON per symbol, None when it has none.

        Positive verdicts are in the ``md:symbols`` hash, negative ones (which expire) at
        ``md:symbols:no:{SYMBOL}``; one round-trip (HMGET and MGET, pipelined).
        """

    async def status(self) -> bytes | None:
        """The ``md:status`` key."""

    async def is_revoked(self, session: str) -> bool:
        """Whether auth marked the session revoked."""

    async def announce(self, instance: str, record: bytes, ttl: float) -> None:
        """Store this process's demand with a TTL and publish that it changed."""

    async def withdraw(self, instance: str) -> None:
        """Delete this process's demand and publish that it changed."""

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the backend answers."""


class MemoryStore:
    """A dict-backed store for unit tests; ``up = False`` makes every call fail."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, bytes]] = {}
        self.keys: dict[str, bytes] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.published: list[tuple[str, bytes]] = []
        self.up = True

    def _check(self) -> None:
        if not self.up:
            raise StoreUnavailable("memory store is down")

    async def latest(self, mode: Mode, symbols: Sequence[str]) -> list[bytes | None]:
        self._check()
        table = self.hashes.get(names.LAST_TICKS if mode == "quote" else names.LAST_DEPTH, {})
        return [table.get(s) for s in symbols]

    async def bars(self, symbols: Sequence[str], *, last: bool = False) -> list[list[bytes]]:
        self._check()
        days = [list(self.lists.get(names.bars_key(s), [])) for s in symbols]
        return [day[-1:] for day in days] if last else days

    async def verdicts(self, symbols: Sequence[str]) -> list[bytes | None]:
        self._check()
        table = self.hashes.get(names.SYMBOL_VERDICTS, {})
        return [self.keys.get(names.negative_verdict_key(s)) or table.get(s) for s in symbols]

    async def status(self) -> bytes | None:
        self._check()
        return self.keys.get(names.STATUS)

    async def is_revoked(self, session: str) -> bool:
        self._check()
        return names.revoked_session_key(session) in self.keys

    async def announce(self, instance: str, record: bytes, ttl: float) -> None:
        self._check()
        self.keys[names.demand_key(instance)] = record
        self.published.append((names.DEMAND_CHANGED, instance.encode()))

    async def withdraw(self, instance: str) -> None:
        self._check()
        self.keys.pop(names.demand_key(instance), None)
        self.published.append((names.DEMAND_CHANGED, instance.encode()))

    async def ping(self) -> None:
        self._check()
