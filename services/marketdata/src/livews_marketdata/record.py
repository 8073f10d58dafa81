"""Record the normalized stream to a file: one Tick or Depth v1 JSON per line.

The lines are exactly what was published (``seq`` and ``ingest_ts`` included), so a
recording is also a faithful log for incident analysis; :mod:`.upstream.replay` plays it
back. Writing happens off the event loop: updates accumulate in memory and a task hands them
to a thread twice a second; past ``max_buffer`` bytes (a disk that cannot keep up) new lines
are dropped and counted (``ticks_dropped{reason="record_overflow"}``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from livews_common.models import Depth, Tick, encode
from livews_marketdata.metrics import Metrics

log = logging.getLogger(__name__)


class Recorder:
    """Appends the published stream to ``path`` (JSON lines)."""

    def __init__(
        self,
        path: Path,
        metrics: Metrics,
        *,
        interval: float = 0.5,
        max_buffer: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = path
        self._metrics = metrics
        self._interval = interval
        self._max = max_buffer
        self._buffer = bytearray()
        self.lines = 0

    def write(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None:
        if len(self._buffer) > self._max:
            self._metrics.ticks_dropped.labels("record_overflow").inc(len(ticks) + len(depth))
            return
        buf = self._buffer
        for tick in ticks:
            buf += encode(tick)
            buf += b"\n"
        for update in depth:
            buf += encode(update)
            buf += b"\n"
        self.lines += len(ticks) + len(depth)

    async def run(self) -> None:
        """Write what accumulated every ``interval`` until cancelled (then a last write)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file: BinaryIO = await asyncio.to_thread(self.path.open, "ab")
        log.info("recording the normalized stream", extra={"path": str(self.path)})
        try:
            while True:
                await asyncio.sleep(self._interval)
                await self._drain(file)
        finally:
            data, self._buffer = bytes(self._buffer), bytearray()
            # A shutdown must not lose the tail; this is one bounded write.
            if data:
                file.write(data)
            file.close()

    async def _drain(self, file: BinaryIO) -> None:
        if not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        await asyncio.to_thread(_write, file, data)


def _write(file: BinaryIO, data: bytes) -> None:
    file.write(data)
    file.flush()
