"""The upstream status clients see (``status`` event), from ``md:status`` and Redis' health."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from livews_common.models import Status, WireError, decode
from livews_gateway.frames import STATUS, event_frame
from livews_gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class UpstreamStatus:
    """The current ``{"upstream", "ts"}`` and its frame; ``on_change`` runs when it changes.

    While Redis is unreachable (or before it was first reached) the gateway cannot know the
    feed's state, so clients are told ``degraded``; once Redis answers, the stored status
    replaces it — ``down`` when none was ever published (no ingestor yet).
    """

    def __init__(self, on_change: Callable[[bytes], None]) -> None:
        self._on_change = on_change
        # Until Redis has been read, the feed's state is unknown to this process.
        self.upstream = "degraded"
        self.ts = _now_ms()
        self.frame = self._build()
        self._redis_down = True

    @property
    def known(self) -> bool:
        """True once the stored status was read since Redis was last (re)connected."""
        return not self._redis_down

    def _build(self) -> bytes:
        return event_frame(STATUS, {"upstream": self.upstream, "ts": self.ts})

    def _set(self, upstream: str, ts: int) -> None:
        if upstream == self.upstream:
            self.ts = ts
            self.frame = self._build()
            return
        self.upstream, self.ts = upstream, ts
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
            self._set(status.upstream, status.ts)

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
        self._set(status.upstream, status.ts)
        return True
