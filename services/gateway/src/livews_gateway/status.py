"""The upstream status clients see (``status`` event), from ``md:status`` and Redis' health."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from livews_common.models import Status, WireError, decode
from livews_gateway.frames import STATUS, event_frame
from livews_gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

#: How often the stored ``md:status`` is re-read: it expires when no ingestor keeps it fresh
#: (CONTRACT §4 v1.1), and an expiry publishes nothing.
POLL_SECONDS = 3.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class UpstreamStatus:
    """The current ``{"upstream", "ts", "market"}`` and its frame; ``on_change`` runs on a change.

    While Redis is unreachable (or before it was first reached) the gateway cannot know the
    feed's state, so clients are told ``degraded``; once Redis answers, the stored status
    replaces it — ``down`` when there is none (no ingestor yet, or the key expired because no
    live ingestor refreshes it: :meth:`poll` re-reads it every few seconds). ``market`` is
    passed through from the ingestor (``null`` until one said).
    """

    def __init__(self, on_change: Callable[[bytes], None]) -> None:
        self._on_change = on_change
        # Until Redis has been read, the feed's state is unknown to this process.
        self.upstream = "degraded"
        self.ts = _now_ms()
        self.market: str | None = None
        self.frame = self._build()
        self._redis_down = True

    @property
    def known(self) -> bool:
        """True once the stored status was read since Redis was last (re)connected."""
        return not self._redis_down

    def _build(self) -> bytes:
        payload: dict[str, object] = {"upstream": self.upstream, "ts": self.ts}
        if self.market is not None:  # v1.1; absent until an ingestor said (as from v1 writers)
            payload["market"] = self.market
        return event_frame(STATUS, payload)

    def _set(self, upstream: str, ts: int, market: str | None = None) -> None:
        if market is None:
            market = self.market  # no ingestor says otherwise: keep the last known session
        if upstream == self.upstream and market == self.market:
            self.ts = ts
            self.frame = self._build()
            return
        self.upstream, self.ts, self.market = upstream, ts, market
        self.frame = self._build()
        self._on_change(self.frame)

    def on_message(self, data: bytes) -> None:
        """A Status JSON published on ``md:status``."""
        try:
            status = decode(data, Status)
        except WireError as exc:
            log.warning("ignoring bad md:status message", extra={"error": str(exc)})
            return
        if not self._redis_down:
            self._set(status.upstream, status.ts, status.market)

    def redis_down(self) -> None:
        self._redis_down = True
        self._set("degraded", _now_ms())

    async def redis_up(self, store: Store) -> bool:
        """Redis is back (or reachable for the first time): read the stored status.

        False when the store could not be read (the status stays ``degraded``; retry).
        """
        try:
            raw = await store.status()
        except StoreUnavailable:
            return False
        self._redis_down = False
        if raw is None:
            self._set("down", _now_ms())
            return True
        try:
            status = decode(raw, Status)
        except WireError:
            self._set("down", _now_ms())
            return True
        self._set(status.upstream, status.ts, status.market)
        return True

    async def poll(self, store: Store, interval: float = POLL_SECONDS) -> None:
        """Re-read the stored status every ``interval`` s while Redis is up; until cancelled.

        A key that expired (every ingestor died without a last word) turns the status ``down``.
        """
        while True:
            await asyncio.sleep(interval)
            if self._redis_down:
                continue
            try:
                raw = await store.status()
            except StoreUnavailable:
                continue  # the bus notices the outage and says degraded
            if self._redis_down:
                continue
            if raw is None:
                if self.upstream != "down":
                    log.warning("md:status is gone (no live ingestor): upstream down")
                    self._set("down", _now_ms())
                continue
            try:
                status = decode(raw, Status)
            except WireError:
                continue
            if status.upstream != self.upstream or (
                status.market is not None and status.market != self.market
            ):
                self._set(status.upstream, status.ts, status.market)
