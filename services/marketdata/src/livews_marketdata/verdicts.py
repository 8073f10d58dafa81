"""Per-symbol verdicts for the gateways: does the upstream know this symbol?

Each verdict is written to the ``md:symbols`` hash and published on the ``md:symbols``
channel (a :class:`~livews_common.models.SymbolVerdict` JSON), so a gateway waiting to
answer a client's subscribe learns it at once, and one arriving later finds it in the hash.
Verdicts are not fenced: a stale leader's verdict is as true as a new one's. Writes that
fail while Redis is away are kept (newest per symbol) and retried by :meth:`run`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import redis.asyncio as aioredis

from livews_common import names
from livews_common.models import SymbolVerdict, encode
from livews_marketdata.metrics import Metrics
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)


def verdict(symbol: str, ok: bool, message: str | None = None) -> SymbolVerdict:
    return SymbolVerdict(symbol=symbol, ok=ok, message=message, ts=int(time.time() * 1000))


class VerdictBoard:
    """Publishes verdicts and remembers the last one per symbol."""

    def __init__(self, redis: aioredis.Redis | None, metrics: Metrics) -> None:
        self._redis = redis
        self._metrics = metrics
        self.known: dict[str, SymbolVerdict] = {}
        self._pending: dict[str, SymbolVerdict] = {}
        self._wake = asyncio.Event()

    async def publish(self, verdicts: Iterable[SymbolVerdict]) -> None:
        """Record and announce ``verdicts`` (every one, even if unchanged: someone may wait)."""
        for v in verdicts:
            self.known[v.symbol] = v
            self._pending[v.symbol] = v
            self._metrics.verdicts.labels("true" if v.ok else "false").inc()
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
                    pipe.hset(names.SYMBOL_VERDICTS, v.symbol, payload)
                    pipe.publish(names.SYMBOL_VERDICT_CHANNEL, payload)
                await pipe.execute()
        except TRANSIENT as exc:
            self._pending = {**batch, **self._pending}
            self._wake.set()
            log.warning("could not publish symbol verdicts; will retry",
                        extra={"count": len(batch), "error": str(exc)})  # fmt: skip
            return False
        return True

    async def run(self) -> None:
        """Retry unpublished verdicts every second while there are any; until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(1.0)
                self._wake.set()
