"""Exponential backoff with full jitter, for every reconnect loop."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Delays ``base·2ⁿ`` capped at ``cap``, each drawn uniformly from [cap/2… that] (jitter).

    Half-jitter keeps a floor so a tight failure loop cannot spin, while spreading replicas
    that failed together. ``reset()`` after a success.
    """

    def __init__(self, base: float, cap: float, *, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = max(cap, base)
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempts = 0
