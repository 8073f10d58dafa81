"""Per-connection limits: the request bucket of subscribe & co., and the inbound budget."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` calls per second on average, bursts of up to ``burst``.

    ``strikes`` counts refused calls in the current ten-second window, so a client that
    keeps hammering past its limit can be cut off instead of only refused.
    """

    __slots__ = ("_clock", "_stamp", "_tokens", "_window_start", "burst", "rate", "strikes")

    WINDOW = 10.0

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._window_start = self._stamp
        self.strikes = 0

    @property
    def full(self) -> bool:
        """True when the bucket has refilled completely (the client has been quiet)."""
        return self._tokens + (self._clock() - self._stamp) * self.rate >= self.burst

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens; False (and a strike) when there are not enough."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        if now - self._window_start > self.WINDOW:
            self._window_start = now
            self.strikes = 0
        self.strikes += 1
        return False


class InboundBudget:
    """What one connection may send: messages per second and bytes per second.

    Two token buckets that refill continuously. Every inbound message is charged — a
    Socket.IO event known or unknown, an ack, an Engine.IO ping or pong — one message
    and its size in bytes. A message that does not fit is refused (the transport drops
    it) and counts a strike; ``exhausted`` turns True once ``strike_limit`` strikes
    fell within one ten-second window, and the connection is then cut off. A burst up
    to the buckets' sizes is always allowed, so a client that sends in bursts but on
    average within the rates never loses a message.
    """

    __slots__ = (
        "_bytes", "_clock", "_messages", "_stamp", "_window_start", "byte_burst", "byte_rate",
        "message_burst", "message_rate", "strike_limit", "strikes",
    )  # fmt: skip

    WINDOW = 10.0

    def __init__(
        self,
        *,
        message_rate: float,
        message_burst: int,
        byte_rate: float,
        byte_burst: int,
        strike_limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.message_rate = message_rate
        self.message_burst = message_burst
        self.byte_rate = byte_rate
        self.byte_burst = byte_burst
        self.strike_limit = strike_limit
        self._clock = clock
        self._messages = float(message_burst)
        self._bytes = float(byte_burst)
        self._stamp = clock()
        self._window_start = self._stamp
        self.strikes = 0

    def charge(self, size: int) -> bool:
        """Charge one message of ``size`` bytes; False (and a strike) when over budget."""
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        self._messages = min(self.message_burst, self._messages + elapsed * self.message_rate)
        self._bytes = min(self.byte_burst, self._bytes + elapsed * self.byte_rate)
        if self._messages >= 1.0 and self._bytes >= size:
            self._messages -= 1.0
            self._bytes -= size
            return True
        if now - self._window_start > self.WINDOW:
            self._window_start = now
            self.strikes = 0
        self.strikes += 1
        return False

    @property
    def exhausted(self) -> bool:
        """Refused often enough, recently enough, to cut the connection off."""
        return self.strikes >= self.strike_limit
