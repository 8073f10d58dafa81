"""Per-connection request limits."""

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

    def take(self) -> bool:
        """Spend one token; False (and a strike) when none is left."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        if now - self._window_start > self.WINDOW:
            self._window_start = now
            self.strikes = 0
        self.strikes += 1
        return False
