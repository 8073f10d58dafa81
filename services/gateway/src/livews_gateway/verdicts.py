"""Whether the upstream knows a symbol: the ingestor's verdicts (``md:symbols``).

A subscribe checks each well-formed symbol here. A known-bad symbol is rejected with
``invalid_symbol``; a known-good one is accepted. A symbol never seen before is put in
this process's demand (the ingestor asks the upstream about it) and the subscribe waits
up to ``wait`` seconds for the verdict published on ``md:symbols``. If none comes — no
ingestor running, Redis down, a slow upstream — the symbol is *accepted*: a client is
never refused because the verdict machinery is unavailable, and a bad symbol then simply
never ticks.

Probing costs the upstream a lookup (and the fleet a stored verdict), so each user may have
only so many symbols probed per minute (:class:`~livews_gateway.quotas.QuotaBook`); the
others are returned as ``limited`` without being probed. Verdicts are read from the
``md:symbols`` hash (positive) and the ``md:symbols:no:{SYMBOL}`` keys (negative, with a TTL:
a junk symbol's verdict fades and may be probed again later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from livews_common.models import SymbolVerdict, WireError, decode
from livews_gateway.demand import DemandAnnouncer
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.quotas import QuotaBook
from livews_gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass
class Classified:
    ok: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)  # symbol → reason
    unknown: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)  # over the user's probe quota: not probed
    probing: list[str] = field(default_factory=list)  # unknown symbols still in the demand


class VerdictBook:
    """Looks verdicts up and waits for new ones (see the module doc)."""

    def __init__(
        self,
        store: Store,
        demand: DemandAnnouncer,
        metrics: GatewayMetrics,
        *,
        wait: float,
        quotas: QuotaBook | None = None,
    ) -> None:
        self._store = store
        self._quotas = quotas
        self._demand = demand
        self._metrics = metrics
        self._wait = wait
        self._waiters: dict[str, list[asyncio.Future[SymbolVerdict]]] = {}

    def on_message(self, data: bytes) -> None:
        """A SymbolVerdict published on ``md:symbols``."""
        try:
            verdict = decode(data, SymbolVerdict)
        except WireError as exc:
            log.warning("ignoring bad verdict", extra={"error": str(exc)})
            return
        for future in self._waiters.pop(verdict.symbol, ()):
            if not future.done():
                future.set_result(verdict)

    async def classify(self, symbols: Sequence[str], *, user: str | None = None) -> Classified:
        """Sort ``symbols`` into ok / invalid / unknown / limited, waiting for new verdicts.

        Symbols left unknown stay in the demand (as a probe) until :meth:`settle` is called
        for them, which the caller does once it joined their rooms.
        """
        result = Classified()
        if not symbols:
            return result
        loop = asyncio.get_running_loop()
        # Listen before asking, so a verdict published in between is not missed.
        futures: dict[str, asyncio.Future[SymbolVerdict]] = {}
        for symbol in symbols:
            future: asyncio.Future[SymbolVerdict] = loop.create_future()
            self._waiters.setdefault(symbol, []).append(future)
            futures[symbol] = future
        try:
            try:
                stored = await self._store.verdicts(symbols)
            except StoreUnavailable:
                result.unknown = list(symbols)  # nothing to wait for without Redis
                return result
            unseen: list[str] = []
            for symbol, raw in zip(symbols, stored, strict=True):
                verdict = _parse(raw)
                if verdict is None:
                    unseen.append(symbol)
                else:
                    _sort(result, symbol, verdict)
            if unseen and self._quotas is not None and user is not None:
                granted = await self._quotas.take_probes(user, len(unseen))
                unseen, result.limited = unseen[:granted], unseen[granted:]
            if unseen:
                await self._await_verdicts(unseen, futures, result)
            return result
        finally:
            for symbol, future in futures.items():
                future.cancel()
                waiting = self._waiters.get(symbol)
                if waiting is not None:
                    with_out = [f for f in waiting if f is not future]
                    if with_out:
                        self._waiters[symbol] = with_out
                    else:
                        del self._waiters[symbol]

    async def _await_verdicts(
        self,
        unseen: list[str],
        futures: dict[str, asyncio.Future[SymbolVerdict]],
        result: Classified,
    ) -> None:
        self._demand.probe(unseen)
        waiting = [futures[s] for s in unseen]
        if self._wait > 0:
            await asyncio.wait(waiting, timeout=self._wait)
        for symbol in unseen:
            future = futures[symbol]
            if future.done() and not future.cancelled():
                _sort(result, symbol, future.result())
                self._metrics.verdict_waits.labels("answered").inc()
            else:
                result.unknown.append(symbol)
                self._metrics.verdict_waits.labels("timed_out").inc()
        # Symbols with a verdict no longer need probing; unknown ones stay until settled.
        self._demand.unprobe([s for s in unseen if s not in result.unknown])
        result.probing = list(result.unknown)

    def settle(self, result: Classified) -> None:
        """The caller is done with ``result`` (it joined the rooms of the accepted symbols)."""
        if result.probing:
            self._demand.unprobe(result.probing)
            result.probing = []


def _parse(raw: bytes | None) -> SymbolVerdict | None:
    if raw is None:
        return None
    try:
        return decode(raw, SymbolVerdict)
    except WireError:
        return None


def _sort(result: Classified, symbol: str, verdict: SymbolVerdict) -> None:
    if verdict.ok:
        result.ok.append(symbol)
    else:
        result.invalid[symbol] = verdict.message or "unknown to the upstream"
