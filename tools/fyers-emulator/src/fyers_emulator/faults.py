"""Fault-injection state shared by the REST endpoints and the data socket.

Pure state with a monotonic clock; the admin endpoints change it and the feed, the OAuth
endpoints and the socket read it. Actions that touch open sockets (drop, garbage, expiry)
live on the feed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from livews_common.market import Calendar, MarketClock, default_holidays

AuthScope = Literal["all", "socket", "rest"]


@dataclass
class Faults:
    """The current faults; ``reset()`` clears them all (issued tokens stay expired)."""

    default_rate: float
    clock: Callable[[], float] = time.monotonic
    rate: float = field(init=False)
    stall_until: float = 0.0
    burst_factor: float = 1.0
    burst_until: float = 0.0
    refuse_socket_auth: bool = False
    refuse_rest_auth: bool = False
    invalid_symbols: set[str] = field(default_factory=set)
    #: The simulated session (``/admin/market``, ``/admin/clock``): forced ``open`` by default so
    #: the emulator trades at any hour; ``state=calendar`` follows the NSE calendar instead.
    market: MarketClock = field(init=False)

    def __post_init__(self) -> None:
        self.rate = self.default_rate
        self.market = MarketClock(Calendar(default_holidays()))
        self.market.override = "open"

    def reset(self) -> None:
        self.rate = self.default_rate
        self.stall_until = 0.0
        self.burst_factor, self.burst_until = 1.0, 0.0
        self.refuse_socket_auth = self.refuse_rest_auth = False
        self.invalid_symbols.clear()
        self.market = MarketClock(self.market.calendar)
        self.market.override = "open"

    def stall(self, seconds: float) -> None:
        """No data on any socket for ``seconds`` from now (0 ends a stall)."""
        self.stall_until = self.clock() + seconds

    def stalled(self) -> bool:
        return self.clock() < self.stall_until

    def burst(self, factor: float, seconds: float) -> None:
        self.burst_factor, self.burst_until = factor, self.clock() + seconds

    def current_rate(self) -> float:
        if self.market.state() == "closed":
            return 0.0  # no trades while closed; sockets stay open and quiet
        """Aggregate ticks per second now, burst included."""
        if self.clock() < self.burst_until:
            return self.rate * self.burst_factor
        return self.rate

    def refuse_auth(self, on: bool, scope: AuthScope = "all") -> None:
        if scope in ("all", "socket"):
            self.refuse_socket_auth = on
        if scope in ("all", "rest"):
            self.refuse_rest_auth = on

    def set_invalid(self, symbol: str, on: bool = True) -> None:
        if on:
            self.invalid_symbols.add(symbol)
        else:
            self.invalid_symbols.discard(symbol)
