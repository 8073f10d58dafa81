"""Admission: who may open a session, and how long it may stay without authorizing.

Every new Engine.IO session (a Socket.IO handshake) gets a :class:`Ticket` from
:meth:`Admission.admit`, or a refusal. The ticket is *pending* until its Socket.IO connect
is authorized and is released when the session's connection ends. The bookkeeping:

* pending sessions have their own cap (``max_pending``), apart from the authorized ones
  (the gateway's clients, capped by ``GATEWAY_MAX_CONNECTIONS``): unauthenticated sockets
  can never take an authenticated user's place. At the cap a new session is still admitted
  and the *oldest* pending one is closed instead: squatters cannot keep a user from even
  starting a handshake, and a real client authorizes within milliseconds, long before
  ``max_pending`` newer sessions could push it out;
* a pending session that has not authorized within ``pending_seconds`` is closed
  (:meth:`Admission.run` sweeps them, oldest first);
* per client address: open sessions (pending and authorized) and new sessions per second.

The client address is the TCP peer, or — only when the peer is a trusted proxy — the
right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy
(:func:`client_address`). Everything here is memory only, per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from livews_gateway.limits import TokenBucket

log = logging.getLogger(__name__)

Network = IPv4Network | IPv6Network

#: How often pending sessions are checked against their deadline (seconds).
SWEEP_INTERVAL = 0.25
#: Longest address key kept (a garbage X-Forwarded-For entry cannot bloat the maps).
_MAX_ADDRESS = 64


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """The address a client is counted under.

    ``forwarded_for`` is every ``X-Forwarded-For`` header value, in order. The header is
    believed only when ``peer`` is in ``trusted``; then its entries are walked from the
    right (the hop nearest to us) and the first one that is not a trusted proxy is the
    client. A header an untrusted client sent is ignored entirely, so it cannot pick the
    address it is counted under.
    """
    address = peer or "unknown"
    if not trusted or not _is_trusted(address, trusted):
        return address[:_MAX_ADDRESS]
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address[:_MAX_ADDRESS]


class Ticket:
    """One admitted session (see the module doc)."""

    __slots__ = ("address", "authorized", "closer", "closing", "deadline", "eio_sid", "released")

    def __init__(self, address: str, deadline: float) -> None:
        self.address = address
        self.deadline = deadline
        self.eio_sid: str | None = None
        self.authorized = False
        self.closing = False
        self.released = False
        #: Closes the session's connection; set when the session exists (``bind``).
        self.closer: Callable[[str], None] | None = None


class Admission:
    """Admission bookkeeping for one gateway process (see the module doc)."""

    def __init__(
        self,
        *,
        max_pending: int,
        pending_seconds: float,
        address_max_connections: int = 0,
        address_handshake_rate: float = 0.0,
        address_handshake_burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_pending = max_pending
        self.pending_seconds = pending_seconds
        self.address_max_connections = address_max_connections
        self.address_handshake_rate = address_handshake_rate
        self.address_handshake_burst = address_handshake_burst
        self._clock = clock
        #: Pending tickets, oldest first (dicts keep insertion order); those being closed
        #: move to ``_closing`` until their connection ends.
        self._pending: dict[Ticket, None] = {}
        self._closing: dict[Ticket, None] = {}
        self._by_eio: dict[str, Ticket] = {}
        self._open: dict[str, int] = {}
        self._handshakes: dict[str, TokenBucket] = {}
        #: Called with the reason whenever a pending session is closed here.
        self.on_close: Callable[[str], None] = lambda _reason: None

    # --- counts -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Pending sessions not being closed (what ``max_pending`` caps)."""
        return len(self._pending)

    @property
    def closing(self) -> int:
        """Pending sessions closed here whose connection has not ended yet."""
        return len(self._closing)

    def open_from(self, address: str) -> int:
        return self._open.get(address, 0)

    @property
    def addresses(self) -> int:
        """Addresses with open sessions or a handshake bucket (memory held here)."""
        return len(self._open.keys() | self._handshakes.keys())

    # --- the life of a ticket -------------------------------------------------------------------

    def admit(self, address: str) -> Ticket | str:
        """A ticket for a new session from ``address``, or the reason it is refused."""
        if self.address_max_connections and self.open_from(address) >= (
            self.address_max_connections
        ):
            return "address_connections"
        if self.address_handshake_rate:
            bucket = self._handshakes.get(address)
            if bucket is None:
                bucket = self._handshakes[address] = TokenBucket(
                    self.address_handshake_rate, self.address_handshake_burst, self._clock
                )
            if not bucket.take():
                return "address_rate"
        while len(self._pending) >= self.max_pending:
            self.close(next(iter(self._pending)), "evicted")
        ticket = Ticket(address, self._clock() + self.pending_seconds)
        self._pending[ticket] = None
        self._open[address] = self._open.get(address, 0) + 1
        return ticket

    def bind(self, ticket: Ticket, eio_sid: str, closer: Callable[[str], None]) -> None:
        """The ticket's Engine.IO session exists; ``closer(reason)`` ends its connection."""
        if ticket.released:
            return
        ticket.eio_sid = eio_sid
        ticket.closer = closer
        self._by_eio[eio_sid] = ticket
        if ticket.closing:  # evicted or expired before its session existed
            closer("evicted")

    def ticket(self, eio_sid: str) -> Ticket | None:
        return self._by_eio.get(eio_sid)

    def authorize(self, eio_sid: str) -> None:
        """The session's Socket.IO connect was authorized: it is no longer pending."""
        ticket = self._by_eio.get(eio_sid)
        if ticket is not None and not ticket.released:
            ticket.authorized = True
            self._pending.pop(ticket, None)

    def release(self, ticket: Ticket) -> None:
        """The session's connection ended (idempotent)."""
        if ticket.released:
            return
        ticket.released = True
        self._pending.pop(ticket, None)
        self._closing.pop(ticket, None)
        if ticket.eio_sid is not None:
            self._by_eio.pop(ticket.eio_sid, None)
        left = self._open.get(ticket.address, 0) - 1
        if left > 0:
            self._open[ticket.address] = left
        else:
            self._open.pop(ticket.address, None)

    def close(self, ticket: Ticket, reason: str) -> None:
        """Close a session's connection now (it stays counted until ``release``)."""
        if ticket.closing or ticket.released:
            return
        ticket.closing = True
        if ticket in self._pending:
            del self._pending[ticket]
            self._closing[ticket] = None
        self.on_close(reason)
        if ticket.closer is not None:
            ticket.closer(reason)

    # --- deadlines ----------------------------------------------------------------------------

    def expired(self) -> list[Ticket]:
        """Pending tickets past their deadline (not being closed yet)."""
        now = self._clock()
        out: list[Ticket] = []
        for ticket in self._pending:
            if ticket.deadline > now:
                break  # oldest first: the rest are younger
            out.append(ticket)
        return out

    def sweep(self) -> int:
        """Close expired pending sessions; forget idle address buckets. Returns closed."""
        closed = 0
        for ticket in self.expired():
            self.close(ticket, "deadline")
            closed += 1
        if self._handshakes:
            idle = [a for a, b in self._handshakes.items() if b.full and a not in self._open]
            for address in idle:
                del self._handshakes[address]
        return closed

    async def run(self) -> None:
        """Sweep until cancelled."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                self.sweep()
            except Exception:  # one bad close must not stop the deadlines of the others
                log.exception("admission sweep failed")
