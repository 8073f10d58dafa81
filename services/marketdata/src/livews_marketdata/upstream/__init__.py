"""Sources of market data: the Fyers socket (through the SDK) and a recorded file.

Contract of :class:`Source`: ``run(sink)`` runs until cancelled (and then closes whatever it
opened before returning); it delivers normalized batches through ``sink.deliver`` in arrival
order, awaiting each (that is the back-pressure: while a batch is written, the next one
accumulates), and reports its state with ``sink.set_state``. ``seq`` is not the source's
business: the sink stamps it.
"""

from __future__ import annotations

from typing import Protocol

from livews_common.models import Depth, Tick, UpstreamState


class FeedSink(Protocol):
    """Receives what a source produces (the leader's pipeline)."""

    async def deliver(self, ticks: list[Tick], depth: list[Depth]) -> None: ...

    def set_state(self, state: UpstreamState, reason: str | None, symbols: int) -> None: ...


class Source(Protocol):
    """An upstream of normalized updates (see the package docstring)."""

    async def run(self, sink: FeedSink) -> None: ...
