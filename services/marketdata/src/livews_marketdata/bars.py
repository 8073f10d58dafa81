"""One-minute bars (CONTRACT §3/§4, v1.1): folded from the ticks the leader publishes.

Contract of :class:`BarBuilder` (pure, no I/O):

- **Minutes by ingest time.** A tick falls in the minute ``ingest_ts - ingest_ts % length``
  (``length`` is 60 000 ms; tests shorten it with ``MARKETDATA_BAR_SECONDS``). Ingest time is
  the ingestor's own clock: one clock for every symbol, so a minute is closed by that same
  clock even when the symbol stops trading, and it never runs backwards between symbols the
  way exchange second stamps (``ltt``/``exch_ts``, whole seconds, per feed) can.
- **Fields.** ``open``/``high``/``low``/``close`` from ``ltp``; ``ticks`` counts the updates
  folded in; ``seq`` is the last Tick ``seq`` folded in. ``volume`` is the growth of the
  cumulative ``volume`` during the minute: each tick adds ``volume - previous volume`` of that
  symbol; a drop (the upstream counter restarted) adds nothing and becomes the new baseline;
  the first tick a leader sees of a symbol only sets the baseline. Indices (and quotes
  without a cumulative volume) have ``volume: null``.
- **Publishing.** :meth:`due` returns what to write now: every bar whose minute is over,
  once, with ``final: true``; and every open bar that changed since it was last returned, at
  most once per ``interval`` per symbol (the first bar of a minute at once).
  Minutes without a tick produce no bar.
- **Failover.** :meth:`seed` adopts the open bars and cumulative volumes a previous leader
  left in Redis, so the new leader continues the bar (or closes it, if its minute is over).

:class:`BarWriter` is the leader's task that writes :meth:`BarBuilder.due` every
``tick`` seconds in one fenced ``EVALSHA``: ``PUBLISH md:bar:1m:{SYMBOL}`` and the list
``md:bars:1m:{SYMBOL}`` (tail replaced while it is the same minute, else ``RPUSH``;
``LTRIM`` to the newest ``cap``; ``EXPIREAT`` the next IST midnight). A failed write is kept
(newest per symbol and minute, at most ``max_pending`` bars: the oldest minutes go first) and
retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import msgspec
import redis.asyncio as aioredis

from livews_common import names, redisconn
from livews_common.models import Bar, Tick
from livews_marketdata.lease import FENCE_SCRIPT_CHECK
from livews_marketdata.publish import TRANSIENT

log = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
_lines = msgspec.json.Encoder()
_bar = msgspec.json.Decoder(Bar)
_volume = msgspec.json.Decoder(dict[str, object])


@dataclass
class _Open:
    bar: Bar
    changed: bool = True
    published: float = float("-inf")


class BarBuilder:
    """Folds ticks into per-symbol bars (see the module docstring)."""

    def __init__(
        self,
        *,
        length_ms: int = 60_000,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.length_ms = length_ms
        self.interval = interval
        self._clock = clock
        self._open: dict[str, _Open] = {}
        self._cum: dict[str, int] = {}
        self._finals: list[Bar] = []

    def minute_of(self, ts_ms: int) -> int:
        return ts_ms - ts_ms % self.length_ms

    def fold(self, ticks: Iterable[Tick]) -> None:
        """Fold published ticks (the pipeline's hook: cheap, no I/O).

        A tick of its symbol's open minute — nearly every one — is folded right here, as
        :meth:`_fold` would; a symbol's first tick, a new minute or a late tick go there.
        """
        length, cum, opened = self.length_ms, self._cum, self._open
        for tick in ticks:
            state = opened.get(tick.symbol)
            ts = tick.ingest_ts
            if state is None or ts - ts % length != state.bar.start:
                self._fold(tick)
                continue
            bar = state.bar
            volume = tick.volume
            if volume is not None and tick.kind != "index":
                before = cum.get(tick.symbol)
                added = 0 if before is None or volume < before else volume - before
                cum[tick.symbol] = volume
                bar.volume = (bar.volume or 0) + added
            price = tick.ltp
            if price > bar.high:
                bar.high = price
            if price < bar.low:
                bar.low = price
            bar.close = price
            bar.ticks += 1
            if tick.seq > bar.seq:
                bar.seq = tick.seq
            state.changed = True

    def _fold(self, tick: Tick) -> None:
        symbol, price = tick.symbol, tick.ltp
        start = self.minute_of(tick.ingest_ts)
        added: int | None = None
        if tick.kind != "index" and tick.volume is not None:
            before = self._cum.get(symbol)
            added = 0 if before is None or tick.volume < before else tick.volume - before
            self._cum[symbol] = tick.volume
        state = self._open.get(symbol)
        if state is not None and start > state.bar.start:
            self._close(state)
            state = None
        if state is None:
            self._open[symbol] = _Open(
                Bar(
                    symbol=symbol, start=start, open=price, high=price, low=price, close=price,
                    volume=added, ticks=1, seq=tick.seq,
                )
            )  # fmt: skip
            return
        bar = state.bar
        if start < bar.start:
            return  # a late tick of a minute already closed: the bar of it is final
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        bar.close = price
        bar.ticks += 1
        bar.seq = max(bar.seq, tick.seq)
        if added is not None:
            bar.volume = (bar.volume or 0) + added
        state.changed = True

    def _close(self, state: _Open) -> None:
        bar = state.bar
        self._finals.append(
            Bar(
                symbol=bar.symbol, start=bar.start, open=bar.open, high=bar.high, low=bar.low,
                close=bar.close, volume=bar.volume, ticks=bar.ticks, seq=bar.seq, final=True,
            )
        )  # fmt: skip
        del self._open[bar.symbol]

    def due(self) -> list[Bar]:
        """Bars to write now: finals of closed minutes, then changed open bars (≤ 1/interval)."""
        now = self._clock()
        current = self.minute_of(int(now * 1000))
        for state in [s for s in self._open.values() if s.bar.start < current]:
            self._close(state)
        out, self._finals = self._finals, []
        for state in self._open.values():
            if state.changed and now - state.published >= self.interval:
                state.changed = False
                state.published = now
                bar = state.bar
                out.append(
                    Bar(
                        symbol=bar.symbol, start=bar.start, open=bar.open, high=bar.high,
                        low=bar.low, close=bar.close, volume=bar.volume, ticks=bar.ticks,
                        seq=bar.seq,
                    )
                )  # fmt: skip
        return out

    def seed(self, bars: Iterable[Bar], volumes: dict[str, int]) -> None:
        """Continue from a previous leader: its open bars and each symbol's cumulative volume."""
        for symbol, volume in volumes.items():
            self._cum.setdefault(symbol, volume)
        for bar in bars:
            if not bar.final and bar.symbol not in self._open:
                # Already published as it is: only a change (or its close) is written again.
                self._open[bar.symbol] = _Open(bar, changed=False)

    @property
    def open_symbols(self) -> int:
        return len(self._open)


# put(key, val, start, cap, at): the bar ``val`` (minute ``start``) into list ``key``: replace
# the tail of the same minute, append a newer minute (then trim to ``cap``), ignore an older one.
_PUT_FUNCTION = """
local function put(key, val, start, cap, at)
  local tail = redis.call('LINDEX', key, -1)
  local tail_start = nil
  if tail then tail_start = tonumber(string.match(tail, '"start":(%d+)')) end
  if tail_start == start then
    redis.call('LSET', key, -1, val)
  elseif tail_start == nil or tail_start < start then
    redis.call('RPUSH', key, val)
    redis.call('LTRIM', key, -cap, -1)
  end
  redis.call('EXPIREAT', key, at)
end
"""
_WRITE = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
"""
    + _PUT_FUNCTION
    + """
local find, sub = string.find, string.sub
local symbols, payloads, starts = ARGV[7], ARGV[8], ARGV[9]
local cap, at = tonumber(ARGV[5]), ARGV[6]
local si, pi, ti = 1, 1, 1
local count = 0
while si <= #symbols do
  local se = find(symbols, '\\n', si, true) or (#symbols + 1)
  local pe = find(payloads, '\\n', pi, true)
  local te = find(starts, '\\n', ti, true) or (#starts + 1)
  local sym = sub(symbols, si, se - 1)
  local val = sub(payloads, pi, pe - 1)
  local start = tonumber(sub(starts, ti, te - 1))
  si, pi, ti = se + 1, pe + 1, te + 1
  redis.call('PUBLISH', ARGV[3] .. sym, val)
  put(ARGV[4] .. sym, val, start, cap, at)
  count = count + 1
end
return count
"""
)
#: On a Cluster, one bar per call (each list in its own slot), fenced by the list's own fence
#: key (:func:`livews_common.names.fence_key`, same slot): KEYS = (fence, list), ARGV = (epoch,
#: bar, start, cap, expire-at); -1 when a newer leader wrote that list already. The fence
#: expires with the list. The publish follows in a pipeline.
_PUT_CLUSTER = (
    FENCE_SCRIPT_CHECK
    + _PUT_FUNCTION
    + """
put(KEYS[2], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
redis.call('EXPIREAT', KEYS[1], ARGV[5])
return 1
"""
)


def next_ist_midnight(now: float) -> int:
    """Epoch seconds of the next midnight in India (when the day's bars expire)."""
    today = datetime.fromtimestamp(now, IST).date()
    return int(datetime.combine(today + timedelta(days=1), datetime.min.time(), IST).timestamp())


class BarWriter:
    """The leader's task writing :meth:`BarBuilder.due` to Redis, fenced by the lease."""

    def __init__(
        self,
        redis: aioredis.Redis,
        builder: BarBuilder,
        holder: str,
        epoch: Callable[[], int | None],
        *,
        cap: int = 500,
        tick: float = 0.2,
        max_pending: int = 50_000,
    ) -> None:
        self._redis = redis
        self.builder = builder
        self._holder = holder
        self._epoch = epoch
        self.cap = cap
        self._tick = tick
        self._script = redis.register_script(_WRITE)
        self._cluster = redisconn.is_cluster(redis)
        self._keys = [names.LEADER_LEASE, names.leader_epoch_key(self._cluster)]
        #: Bars a failed write left, newest per (symbol, start); retried first.
        self.pending: dict[tuple[str, int], Bar] = {}
        self.max_pending = max_pending
        self.dropped = 0
        self.written = 0

    async def seed(self, symbols: Sequence[str]) -> int:
        """Adopt the open bars of ``symbols`` (and their cumulative volume) from Redis."""
        if not symbols:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.lindex(names.bars_key(symbol), -1)
            pipe.hmget(names.LAST_TICKS, list(symbols))
            replies = await pipe.execute()
        bars: list[Bar] = []
        for symbol, raw in zip(symbols, replies[:-1], strict=True):
            if raw is None:
                continue
            try:
                bar = _bar.decode(raw)
            except msgspec.DecodeError:
                log.warning("unreadable bar in Redis; not continued", extra={"symbol": symbol})
                continue
            if bar.symbol == symbol:
                bars.append(bar)
        volumes: dict[str, int] = {}
        for symbol, raw in zip(symbols, replies[-1], strict=True):
            if raw is None:
                continue
            try:
                volume = _volume.decode(raw).get("volume")
            except msgspec.DecodeError:
                continue
            if isinstance(volume, int) and not isinstance(volume, bool) and volume >= 0:
                volumes[symbol] = volume
        self.builder.seed(bars, volumes)
        return len(bars)

    async def write_once(self) -> bool:
        """Write what is due (and what a failed write left); False if it must be retried."""
        for bar in self.builder.due():
            self.pending[(bar.symbol, bar.start)] = bar
        if len(self.pending) > self.max_pending:
            # A long outage: keep the newest minutes (the list keeps only the newest anyway).
            keep = sorted(self.pending.items(), key=lambda kv: kv[1].start)[-self.max_pending :]
            self.dropped += len(self.pending) - len(keep)
            self.pending = dict(keep)
        if not self.pending:
            return True
        epoch = self._epoch()
        if epoch is None:
            return False
        bars = sorted(self.pending.values(), key=lambda b: b.start)
        args: list[str | bytes | int] = [
            self._holder, epoch, names.BAR_CHANNEL_PREFIX, names.BARS_KEY_PREFIX, self.cap,
            next_ist_midnight(time.time()), "\n".join([b.symbol for b in bars]),
            _lines.encode_lines(bars), "\n".join([str(b.start) for b in bars]),
        ]  # fmt: skip
        try:
            if self._cluster:
                result = await self._write_cluster(epoch, bars)
            else:
                result = int(await self._script(keys=self._keys, args=args))
        except TRANSIENT as exc:
            log.debug("bar write failed; retrying", extra={"error": repr(exc)})
            return False
        if result < 0:
            return False
        self.pending.clear()
        self.written += result
        return True

    async def _write_cluster(self, epoch: int, bars: Sequence[Bar]) -> int:
        """``bars`` on a Cluster: the lists (one script each, in their own slots), then SPUBLISH.

        The lease is checked first, in its own slot: a deposed leader stops there. A leader
        deposed between that check and its writes is stopped per list by the list's fence
        key, which every write raises to its epoch: once the new leader has written a
        symbol's bars, an older epoch cannot overwrite them (nor publish them: the publish
        follows only the accepted writes). Returns -1 if any write was refused.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys[0])
            pipe.get(self._keys[1])
            holder, current = await pipe.execute()
        if holder != self._holder.encode() or current != str(epoch).encode():
            return -1
        at = next_ist_midnight(time.time())
        payloads = [_lines.encode(b) for b in bars]
        async with self._redis.pipeline(transaction=False) as pipe:
            for bar, payload in zip(bars, payloads, strict=True):
                key = names.bars_key(bar.symbol)
                pipe.eval(_PUT_CLUSTER, 2, names.fence_key(key), key, epoch, payload, bar.start,
                          self.cap, at)  # fmt: skip
            accepted = [int(r) == 1 for r in await pipe.execute()]
        async with self._redis.pipeline(transaction=False) as pipe:
            for bar, payload, ok in zip(bars, payloads, accepted, strict=True):
                if ok:
                    pipe.execute_command("SPUBLISH", names.bar_channel(bar.symbol), payload)
            await pipe.execute()
        return len(bars) if all(accepted) else -1

    async def run(self) -> None:
        """Write due bars every ``tick`` seconds; runs until cancelled."""
        while True:
            await self.write_once()
            await asyncio.sleep(self._tick)


__all__ = ["BarBuilder", "BarWriter", "next_ist_midnight"]
