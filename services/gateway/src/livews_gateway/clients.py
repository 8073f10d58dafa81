"""Connected clients: what each one holds, and the indexes to find them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Literal, cast

from livews_gateway.compact import delta_bytes, key_bytes
from livews_gateway.limits import TokenBucket
from livews_gateway.outlet import Outlet

Mode = Literal["quote", "depth", "bars"]
MODES: tuple[Mode, Mode, Mode] = ("quote", "depth", "bars")
#: Index of a mode in per-mode arrays (``Client.pending``, ``Client.subs``).
MODE_INDEX: dict[str, int] = {"quote": 0, "depth": 1, "bars": 2}
#: The index of ``mode: "bars"`` (one-minute bars, CONTRACT §3 v1.1).
BARS = 2
#: What a client holds until its first subscribe: shared by every such client, and frozen so
#: that nothing can add to it by mistake (:meth:`Client.own_subs` gives a client its own).
NO_SUBS = cast(tuple[set[str], set[str], set[str]], (frozenset(),) * 3)


class Entry:
    """One message from Redis (a Tick or a Depth), shared by every client that receives it."""

    __slots__ = ("_delta", "_key", "data", "ingest_ts", "prev", "seq", "symbol")

    def __init__(self, symbol: str, seq: int, ingest_ts: int, data: bytes) -> None:
        self.symbol = symbol
        self.seq = seq
        self.ingest_ts = ingest_ts
        self.data = data
        #: The message its room relayed just before it (set by ``Fanout.relay``): a compact
        #: client that holds exactly that object gets the delta row.
        self.prev: bytes | None = None
        self._key: bytes | None = None
        self._delta: bytes | None = None

    def key_row(self) -> bytes:
        """The compact key row (built once, shared by every client)."""
        if self._key is None:
            self._key = key_bytes(self.data)
        return self._key

    def delta_row(self) -> bytes:
        """The compact delta row against :attr:`prev` (built once, shared)."""
        if self._delta is None:
            assert self.prev is not None
            self._delta = delta_bytes(self.prev, self.data)
        return self._delta


class Throttle:
    """A client's ``max_hz`` subscriptions (CONTRACT §3 v1.1), per mode index.

    ``interval[i][symbol]`` is the least time between two updates of that symbol;
    ``due[i][symbol]`` the monotonic time from which the next one may go. ``timer`` is the
    pending wake-up that flushes held updates when they come due (``timer_at`` its time).
    Created on the first throttled subscribe: an unthrottled client carries only ``None``.
    """

    __slots__ = ("due", "interval", "timer", "timer_at")

    def __init__(self) -> None:
        self.interval: tuple[dict[str, float], ...] = ({}, {}, {})
        self.due: tuple[dict[str, float], ...] = ({}, {}, {})
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Client:
    """One authenticated Socket.IO connection.

    ``pending[i]`` holds the entries waiting for the next flush, per mode; ``control`` holds
    frames the flusher writes before them (the snapshot that follows a subscribe ack, the
    status that follows the connect). Only the event loop's thread touches a client.
    """

    __slots__ = (
        "__weakref__", "behind_since", "bucket", "closing", "connected_at", "control", "dirty",
        "eio_sid", "exp", "held", "hold", "notice_at", "outlet", "pending", "session", "sid",
        "subs", "throttle", "user",
    )  # fmt: skip

    def __init__(
        self,
        sid: str,
        eio_sid: str,
        outlet: Outlet,
        *,
        user: str,
        session: str,
        exp: int,
        bucket: TokenBucket,
    ) -> None:
        self.sid = sid
        self.eio_sid = eio_sid
        self.outlet = outlet
        self.user = user
        self.session = session
        self.exp = exp
        self.notice_at = 0.0
        self.bucket = bucket
        #: Per mode, the symbols subscribed (:data:`NO_SUBS` until the first subscribe).
        self.subs: tuple[set[str], set[str], set[str]] = NO_SUBS
        self.pending: list[list[Entry]] = [[], [], []]
        self.control: list[bytes] = []
        self.dirty = False
        self.hold = 0
        self.behind_since: float | None = None
        self.closing = False
        self.throttle: Throttle | None = None
        #: Compact clients only (None: JSON Tick v1): per symbol, the message it last
        #: received, which decides key row or delta row for the next one.
        self.held: dict[str, bytes] | None = None
        self.connected_at = time.monotonic()

    def own_subs(self, index: int) -> set[str]:
        """``subs[index]``, to be changed: the client's own sets replace :data:`NO_SUBS`."""
        if self.subs is NO_SUBS:
            self.subs = (set(), set(), set())
        return self.subs[index]

    @property
    def subscription_count(self) -> int:
        return len(self.subs[0]) + len(self.subs[1]) + len(self.subs[2])

    def __repr__(self) -> str:
        return f"<Client {self.sid} user={self.user} subs={self.subscription_count}>"


class ClientRegistry:
    """Clients by Socket.IO sid and by auth session id (for revocation)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Client] = {}
        self._by_session: dict[str, set[Client]] = {}

    def __len__(self) -> int:
        return len(self._by_sid)

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self._by_sid.values()))

    def get(self, sid: str) -> Client | None:
        return self._by_sid.get(sid)

    def add(self, client: Client) -> None:
        self._by_sid[client.sid] = client
        self._by_session.setdefault(client.session, set()).add(client)

    def remove(self, client: Client) -> None:
        if self._by_sid.get(client.sid) is client:
            del self._by_sid[client.sid]
        self._unindex(client)

    def rebind_session(self, client: Client, session: str) -> None:
        """The client refreshed its token with one of another session."""
        if session == client.session:
            return
        self._unindex(client)
        client.session = session
        self._by_session.setdefault(session, set()).add(client)

    def of_session(self, session: str) -> list[Client]:
        return list(self._by_session.get(session, ()))

    def _unindex(self, client: Client) -> None:
        peers = self._by_session.get(client.session)
        if peers is not None:
            peers.discard(client)
            if not peers:
                del self._by_session[client.session]
