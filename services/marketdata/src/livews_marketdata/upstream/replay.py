"""Replay a recording (see :mod:`livews_marketdata.record`) as if it were the upstream.

Lines are played in file order, paced by their recorded ``ingest_ts`` divided by
``MARKETDATA_REPLAY_SPEED`` (2 = twice as fast); lines recorded in the same millisecond go
out as one batch. Each update gets a fresh ``ingest_ts`` (now) and, from the sink, a fresh
``seq`` continuing from ``md:last``; ``ltt``/``exch_ts`` stay as recorded. At the end the
file starts over when ``MARKETDATA_REPLAY_LOOP`` is true, else the status turns ``down``.

Quotes of every recorded symbol are published; depth only for symbols someone asked depth
for (as upstream). A symbol a gateway asks for gets a verdict: known if the recording has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from livews_common.models import Depth, Tick, WireError, decode
from livews_marketdata.demand import DemandSource
from livews_marketdata.errors import RecordingError
from livews_marketdata.upstream import FeedSink
from livews_marketdata.verdicts import VerdictBoard, verdict

log = logging.getLogger(__name__)

Update = Tick | Depth
NOT_RECORDED = "not in the replay recording"


def read_recording(path: Path) -> list[Update]:
    """Every line of a recording, decoded and validated (blank lines are skipped)."""
    updates: list[Update] = []
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            line = line.strip()
            if not line:
                continue
            try:
                if b'"bids"' in line:
                    updates.append(decode(line, Depth))
                else:
                    updates.append(decode(line, Tick))
            except WireError as exc:
                raise RecordingError(str(path), number, str(exc)) from None
    return updates


def batches(updates: list[Update]) -> Iterator[tuple[int, list[Update]]]:
    """``(recorded ingest_ts, updates recorded in that millisecond)``, in file order."""
    batch: list[Update] = []
    stamp: int | None = None
    for update in updates:
        if stamp is not None and update.ingest_ts != stamp:
            yield stamp, batch
            batch = []
        stamp = update.ingest_ts
        batch.append(update)
    if batch and stamp is not None:
        yield stamp, batch


class ReplaySource:
    """Plays a recording into the sink (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        speed: float = 1.0,
        loop: bool = True,
        demand: DemandSource,
        verdicts: VerdictBoard,
    ) -> None:
        self._path = path
        self._speed = speed
        self._loop = loop
        self._demand = demand
        self._verdicts = verdicts
        self.symbols: frozenset[str] = frozenset()
        self.plays = 0

    async def run(self, sink: FeedSink) -> None:
        updates = await asyncio.to_thread(read_recording, self._path)
        self.symbols = frozenset(u.symbol for u in updates)
        log.info(
            "replaying",
            extra={"path": str(self._path), "updates": len(updates),
                   "symbols": len(self.symbols), "speed": self._speed},
        )  # fmt: skip
        judge = asyncio.create_task(self._judge_demand(), name="replay-verdicts")
        try:
            if not updates:
                sink.set_state("down", f"the replay file {self._path} is empty", 0)
                await asyncio.Event().wait()
            while True:
                sink.set_state("up", None, len(self.symbols))
                await self._play(sink, updates)
                self.plays += 1
                if not self._loop:
                    sink.set_state("down", "replay finished", 0)
                    await asyncio.Event().wait()
        finally:
            judge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await judge

    async def _play(self, sink: FeedSink, updates: list[Update]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first: int | None = None
        for stamp, batch in batches(updates):
            if first is None:
                first = stamp
            due = started + (stamp - first) / 1000 / self._speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = int(time.time() * 1000)
            depth_wanted = self._demand.current().depth
            ticks: list[Tick] = []
            depth: list[Depth] = []
            for update in batch:
                if isinstance(update, Tick):
                    ticks.append(msgspec.structs.replace(update, ingest_ts=now))
                elif update.symbol in depth_wanted:
                    depth.append(msgspec.structs.replace(update, ingest_ts=now))
            if ticks or depth:
                await sink.deliver(ticks, depth)

    async def _judge_demand(self) -> None:
        judged: set[str] = set()
        while True:
            wanted = self._demand.current().symbols - judged
            if wanted:
                await self._verdicts.publish(
                    verdict(s, s in self.symbols, None if s in self.symbols else NOT_RECORDED)
                    for s in sorted(wanted)
                )
                judged |= wanted
            self._demand.changed.clear()
            await self._demand.changed.wait()
