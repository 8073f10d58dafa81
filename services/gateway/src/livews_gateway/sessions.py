"""Session lifetimes: token expiry, and server-initiated disconnects.

:class:`ExpiryWatch` sends ``auth:expiring`` shortly before a client's token expires and
hands the client to the disconnector when it has. :class:`Disconnector` performs every
server-initiated disconnect the same way: ``bye`` (code, message, reconnect), then the close,
then — if the client has not closed its connection after a grace period — an abort of the
TCP connection, so a client that stopped reading cannot keep its buffers alive.

The close depends on the ``bye``'s ``reconnect`` (CONTRACT §3, "Reconnecting"): for
``reconnect: false`` (token_expired, session_revoked) it is a Socket.IO disconnect, after
which socket.io-client and python-socketio stay away; for ``reconnect: true``
(server_shutdown, slow_consumer, rate_limited) the connection is ended with no Socket.IO or
Engine.IO close packet (a websocket close frame: 1012 for server_shutdown, 1008 otherwise),
which those clients treat as a lost connection and reconnect after, with their own backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from livews_common.codes import ByeCode
from livews_gateway.clients import Client
from livews_gateway.frames import AUTH_EXPIRING, BYE, event_frame
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.transport.wsprotocol import CLOSE_POLICY, CLOSE_RESTART

log = logging.getLogger(__name__)

#: Seconds a kicked client has to close its connection before it is aborted.
ABORT_GRACE = 2.0

_NOTICE = 0
_EXPIRE = 1


class ExpiryWatch:
    """Timers for every client's token, on one task (a heap, not a timer per client)."""

    def __init__(
        self,
        *,
        notice: float,
        on_notice: Callable[[Client], None],
        on_expired: Callable[[Client], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._notice = notice
        self._on_notice = on_notice
        self._on_expired = on_expired
        self._clock = clock
        # Entries hold the client weakly: a disconnected client (and its connection's
        # buffers) must not stay alive until its token's expiry comes round.
        self._heap: list[tuple[float, int, int, weakref.ref[Client], int]] = []
        self._counter = itertools.count()
        self._wake = asyncio.Event()

    def notice_at(self, exp: int, iat: int) -> float:
        """When to warn: ``notice`` seconds ahead, but never before a third of the lifetime."""
        lifetime = max(1, exp - iat)
        return exp - min(self._notice, lifetime / 3)

    def track(self, client: Client, iat: int) -> None:
        """(Re)arm ``client``'s timers for its current ``exp``."""
        client.notice_at = self.notice_at(client.exp, iat)
        ref = weakref.ref(client)
        for when, kind in ((client.notice_at, _NOTICE), (float(client.exp), _EXPIRE)):
            entry = (when, kind, next(self._counter), ref, client.exp)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._wake.set()

    async def run(self) -> None:
        while True:
            delay = self._heap[0][0] - self._clock() if self._heap else None
            if delay is None or delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            _when, kind, _n, ref, exp = heapq.heappop(self._heap)
            client = ref()
            if client is None or client.closing or client.exp != exp:
                continue  # gone, or refreshed since: a newer entry exists
            if kind == _NOTICE:
                self._on_notice(client)
            else:
                self._on_expired(client)


def expiring_frame(exp: int) -> bytes:
    return event_frame(AUTH_EXPIRING, {"exp": exp})


def bye_frame(code: ByeCode, message: str) -> bytes:
    return event_frame(BYE, {"code": str(code), "message": message, "reconnect": code.reconnect})


class Disconnector:
    """Server-initiated disconnects (see the module doc); ``run`` is its task."""

    def __init__(self, sio: Any, metrics: GatewayMetrics, *, grace: float = ABORT_GRACE) -> None:
        self._sio = sio
        self._metrics = metrics
        self._grace = grace
        self._queue: deque[tuple[Client, ByeCode]] = deque()
        self._aborts: deque[tuple[float, Client]] = deque()
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._aborts)

    def kick(self, client: Client, code: ByeCode, message: str) -> None:
        """Say ``bye`` now and disconnect ``client`` shortly (idempotent)."""
        if client.closing:
            return
        client.closing = True
        client.outlet.write_text(bye_frame(code, message))
        self._metrics.disconnects.labels(str(code)).inc()
        if code is ByeCode.SLOW_CONSUMER:
            self._metrics.slow_consumers.inc()
        log.debug("disconnecting client", extra={"sid": client.sid, "code": str(code)})
        self._queue.append((client, code))
        self._wake.set()

    def reap(self, client: Client) -> None:
        """``client`` is gone for Socket.IO; make sure its connection goes too.

        Normally the websocket closes with the disconnect. A peer that stopped reading keeps
        it open (its writes can never drain), so it is aborted after the grace period.
        """
        self._aborts.append((asyncio.get_running_loop().time() + self._grace, client))
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = None
            if self._aborts:
                timeout = max(0.0, self._aborts[0][0] - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            while self._queue:
                client, code = self._queue.popleft()
                try:
                    if code.reconnect:  # closed first: the DISCONNECT below is not sent
                        close = CLOSE_RESTART if code is ByeCode.SERVER_SHUTDOWN else CLOSE_POLICY
                        await self._sio.hang_up(client.eio_sid, close, str(code))
                    await self._sio.disconnect(client.sid)  # the disconnect handler reaps it
                except Exception:  # one client's teardown must not stop the others'
                    log.exception("disconnect failed", extra={"sid": client.sid})
                    client.outlet.abort()
            now = loop.time()
            while self._aborts and self._aborts[0][0] <= now:
                _due, client = self._aborts.popleft()
                if client.outlet.open:
                    client.outlet.abort()
