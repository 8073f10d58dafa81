"""Per-symbol verdicts for the gateways: does the upstream know this symbol?

Each verdict is published on the ``md:symbols`` channel (a
:class:`~livews_common.models.SymbolVerdict` JSON), so a gateway waiting to answer a client's
subscribe learns it at once, and stored so one arriving later finds it: a positive verdict in
the ``md:symbols`` hash (bounded by the symbols the upstream really has), a negative one at
``md:symbols:no:{SYMBOL}`` with a TTL (``negative_ttl``), so that junk symbols — which anyone
can make up by the million — fade instead of filling Redis. Writing one removes the other.
Verdicts are not fenced: a stale leader's verdict is as true as a new one's. Writes that
fail while Redis is away are kept (newest per symbol, at most :data:`MAX_PENDING`) and
retried by :meth:`run`; :attr:`known` keeps only the newest :data:`MAX_KNOWN`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable

import redis.asyncio as aioredis

from livews_common import names
from livews_common.models import SymbolVerdict, WireError, decode, encode
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)

#: Verdicts remembered in memory (newest first kept) and unwritten ones kept for a retry.
MAX_KNOWN = 10_000
MAX_PENDING = 10_000
#: Fields per HSCAN step when clearing negative verdicts an older version kept in the hash.
_SCAN_COUNT = 1000


def verdict(symbol: str, ok: bool, message: str | None = None) -> SymbolVerdict:
    return SymbolVerdict(symbol=symbol, ok=ok, message=message, ts=int(time.time() * 1000))


class VerdictBoard:
    """Publishes verdicts and remembers the last one per symbol."""

    def __init__(
        self, redis: aioredis.Redis | None, metrics: Metrics, *, negative_ttl: float = 600.0
    ) -> None:
        self._redis = redis
        self._metrics = metrics
        self._negative_ttl_ms = max(1000, int(negative_ttl * 1000))
        self.known: dict[str, SymbolVerdict] = {}
        self._pending: dict[str, SymbolVerdict] = {}
        self._wake = asyncio.Event()

    async def publish(self, verdicts: Iterable[SymbolVerdict]) -> None:
        """Record and announce ``verdicts`` (every one, even if unchanged: someone may wait)."""
        for v in verdicts:
            self.known.pop(v.symbol, None)  # re-insert: dicts keep insertion order
            self.known[v.symbol] = v
            self._pending.pop(v.symbol, None)
            self._pending[v.symbol] = v
            self._metrics.verdicts.labels("true" if v.ok else "false").inc()
        _trim(self.known, MAX_KNOWN)
        _trim(self._pending, MAX_PENDING)
        await self.flush()

    async def flush(self) -> bool:
        if not self._pending or self._redis is None:
            self._pending.clear()
            return True
        batch, self._pending = self._pending, {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for v in batch.values():
                    payload = encode(v)
                    negative = names.negative_verdict_key(v.symbol)
                    if v.ok:
                        pipe.hset(names.SYMBOL_VERDICTS, v.symbol, payload)
                        pipe.delete(negative)
                    else:
                        pipe.set(negative, payload, px=self._negative_ttl_ms)
                        pipe.hdel(names.SYMBOL_VERDICTS, v.symbol)
                    # Not pipe.publish(): redis-py's cluster pipeline refuses that method.
                    pipe.execute_command("PUBLISH", names.SYMBOL_VERDICT_CHANNEL, payload)
                await pipe.execute()
        except TRANSIENT as exc:
            self._pending = {**batch, **self._pending}
            _trim(self._pending, MAX_PENDING)
            self._wake.set()
            log.warning("could not publish symbol verdicts; will retry",
                        extra={"count": len(batch), "error": str(exc)})  # fmt: skip
            return False
        return True

    async def run(self) -> None:
        """Retry unpublished verdicts every second while there are any; until cancelled.

        First clears the negative verdicts an older version kept in the hash (once a term).
        """
        try:
            await self.clear_stored_negatives()
        except TRANSIENT as exc:
            log.warning("could not clear stored negative verdicts", extra={"error": str(exc)})
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(1.0)
                self._wake.set()

    async def clear_stored_negatives(self) -> int:
        """Remove negative verdicts kept in the hash (by versions before they expired)."""
        if self._redis is None:
            return 0
        stale: list[bytes] = []
        async for symbol, value in self._redis.hscan_iter(names.SYMBOL_VERDICTS, count=_SCAN_COUNT):
            try:
                ok = decode(value, SymbolVerdict).ok
            except WireError:
                ok = False
            if not ok:
                stale.append(symbol)
        for start in range(0, len(stale), _SCAN_COUNT):
            await self._redis.hdel(names.SYMBOL_VERDICTS, *stale[start : start + _SCAN_COUNT])
        if stale:
            log.info("cleared stored negative verdicts", extra={"count": len(stale)})
        return len(stale)


def _trim(table: dict[str, SymbolVerdict], limit: int) -> None:
    """Drop the oldest entries of ``table`` beyond ``limit``."""
    excess = len(table) - limit
    if excess > 0:
        for symbol in list(itertools.islice(table, excess)):
            del table[symbol]
