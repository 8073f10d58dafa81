"""Fan-out: from one Redis message to every client of its room, batched per client.

Delivery contract (what a client sees):

* one ``ticks`` frame (and one ``depth`` frame) per flush, carrying everything pending for
  it across all its symbols, in arrival order;
* per symbol, ``seq`` strictly increases from the snapshot on: a message not newer than
  what the room last relayed, or than the client's snapshot, is not sent;
* a client whose connection is not writable (its outgoing buffer is over the high-water
  mark) is *conflated*: it keeps only the latest message per symbol until it drains; one
  that stays blocked for ``slow_seconds`` is handed to ``on_slow`` (cut off with ``bye``).

How it stays fast: a message is decoded once (only its head: symbol, seq, ingest_ts) and
its JSON bytes are forwarded as they are. Relaying it to a room is an append of one shared
:class:`~livews_gateway.clients.Entry` per member. A flush builds each distinct frame once
(clients with the same pending entries share it) and writes it with a synchronous call
per client — no task per recipient. When idle a flush happens on the next loop turn; under
load the window before the next flush widens to half the last flush's duration, bounded
by ``flush_max``: more ticks per frame the busier it gets, and a wait of at most about
half a flush for any tick (measured on this machine: p99 ~90 ms end to end at 1,000
clients; a full window would double the wait for a little less CPU).

Redis content is checked, not trusted (anyone who can write Redis could otherwise break
every client): a message that is not UTF-8, not a Tick/Depth head, or not of the room's
symbol is dropped (:func:`checked_head`, used by the live, snapshot and resync paths alike);
a ``seq`` above :data:`~livews_common.models.MAX_SEQ` is always ignored, and one more than
``max_seq_jump`` away from the room's last ``seq`` is ignored unless
:data:`SEQ_CONFIRM` + 1 messages in a row agree (a genuine restart or a long outage): so one
poisoned message can neither silence a room nor stop it for good (``seq_jumps`` counts them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from operator import is_

from livews_common.models import MAX_SEQ, Bar, TickHead, WireError, decode
from livews_gateway.clients import BARS, Client, Entry, Throttle
from livews_gateway.frames import BARS as BARS_EVENT
from livews_gateway.frames import DEPTH, TICKS, batch_frame
from livews_gateway.metrics import GatewayMetrics
from livews_gateway.rooms import Room, Rooms

log = logging.getLogger(__name__)

#: The window after a flush is this many times the flush's own duration (so flushing takes
#: at most about two thirds of the loop while the window is below ``flush_max``).
WIDEN = 0.5
#: Pending entries per client and mode beyond which a held client is conflated anyway.
PENDING_CAP = 4096
#: How often blocked clients are checked for the slow-consumer deadline (seconds).
BLOCKED_CHECK = 0.25

#: Default of a compact client's ``held.get``: never the ``prev`` of an entry (not even None).
_MISSING = b""

#: Consecutive messages with an absurd ``seq`` after which the next one is believed.
SEQ_CONFIRM = 3

_EVENTS = (TICKS, DEPTH, BARS_EVENT)
#: Frames built in one flush, by what they carry (shared by every client that gets the same).
_Frames = dict[tuple[object, ...], "_Built"]
_MODES = ("quote", "depth", "bars")
_INDEXES = (0, 1, 2)


class _Built:
    """A frame built in this flush, and how many clients it went to."""

    __slots__ = ("frame", "latency", "uses")

    def __init__(self, frame: bytes, latency: float) -> None:
        self.frame = frame
        self.latency = latency
        self.uses = 0


class _Plan:
    """A pending list's symbols, previous messages and messages, as parallel tuples."""

    __slots__ = ("datas", "missing", "prevs", "symbols")

    def __init__(self, pending: list[Entry]) -> None:
        self.symbols = tuple(e.symbol for e in pending)
        self.prevs = tuple(e.prev for e in pending)
        self.datas = tuple(e.data for e in pending)
        self.missing = (_MISSING,) * len(pending)


def conflate(pending: list[Entry]) -> list[Entry]:
    """The latest entry per symbol, in the order symbols first appeared."""
    latest: dict[str, Entry] = {}
    for entry in pending:
        latest[entry.symbol] = entry
    return list(latest.values())


def checked_head(data: bytes, symbol: str, metrics: GatewayMetrics) -> TickHead | None:
    """The head of a Tick/Depth JSON of ``symbol`` that is safe to relay, or None (counted).

    Websocket text frames must be UTF-8: checked once here, not per client.
    """
    try:
        data.decode()
        head = decode(data, TickHead)
    except (UnicodeDecodeError, WireError) as exc:
        metrics.bad_messages.inc()
        log.warning("dropping undecodable message", extra={"symbol": symbol, "error": str(exc)})
        return None
    if head.symbol != symbol:
        metrics.bad_messages.inc()
        return None
    return head


def checked_bar(data: bytes, symbol: str, metrics: GatewayMetrics) -> Entry | None:
    """A Bar JSON of ``symbol`` that is safe to relay, as an Entry, or None (counted).

    The whole Bar is validated (bars are at most one a second per symbol). Its order key
    (``Entry.seq``) is ``2·seq + final``: every publish of a symbol's bar is newer than the
    one before (an open bar is published only when a tick was folded in; its final carries
    the same ``seq``), so the seq guard of ticks applies unchanged.
    """
    try:
        data.decode()
        bar = decode(data, Bar)
    except (UnicodeDecodeError, WireError) as exc:
        metrics.bad_messages.inc()
        log.warning("dropping undecodable bar", extra={"symbol": symbol, "error": str(exc)})
        return None
    if bar.symbol != symbol or bar.seq > MAX_SEQ:
        metrics.bad_messages.inc()
        return None
    return Entry(symbol, 2 * bar.seq + int(bar.final), int(time.time() * 1000), data)


def _cap(client: Client) -> None:
    """Conflate a held client's pending entries once they pass :data:`PENDING_CAP`."""
    for index in _INDEXES:
        if len(client.pending[index]) > PENDING_CAP:
            client.pending[index] = conflate(client.pending[index])


class Fanout:
    """Relays room messages to clients and flushes them in batches (see the module doc)."""

    def __init__(
        self,
        rooms: Rooms,
        metrics: GatewayMetrics,
        *,
        flush_min: float,
        flush_max: float,
        slow_seconds: float,
        on_slow: Callable[[Client], None],
        clock: Callable[[], float] = time.monotonic,
        max_seq_jump: int = 1_000_000,
    ) -> None:
        self._rooms = rooms
        self._metrics = metrics
        self._flush_min = flush_min
        self._flush_max = flush_max
        self._slow_seconds = slow_seconds
        self._on_slow = on_slow
        self._clock = clock
        self._max_jump = max_seq_jump
        self._dirty: list[Client] = []
        self._blocked: set[Client] = set()
        self._wake = asyncio.Event()
        self.window = flush_min
        self.stale = 0

    # --- in: messages from the bus -------------------------------------------------------------

    def on_message(self, channel: str, data: bytes) -> None:
        """A Tick or Depth JSON from a room's channel."""
        room = self._rooms.room(channel)
        if room is None:
            return  # arrived after the room's last member left
        if room.index == BARS:
            entry = checked_bar(data, room.symbol, self._metrics)
            if entry is not None:
                self.relay(room, entry)
            return
        head = checked_head(data, room.symbol, self._metrics)
        if head is not None:
            self.relay(room, Entry(head.symbol, head.seq, head.ingest_ts, data))

    def check(self, room: Room, data: bytes) -> TickHead | None:
        """A stored value (snapshot) for ``room``: its head, or None when it must not be sent."""
        head = checked_head(data, room.symbol, self._metrics)
        if head is None:
            return None
        if head.seq > MAX_SEQ or (0 <= room.last_seq < head.seq - self._max_jump):
            self._metrics.seq_jumps.inc()
            log.warning("ignoring a stored value with an absurd seq",
                        extra={"symbol": room.symbol, "seq": head.seq})  # fmt: skip
            return None
        return head

    def check_bar(self, room: Room, data: bytes) -> Entry | None:
        """A stored bar (snapshot) for ``room``, or None when it must not be sent."""
        entry = checked_bar(data, room.symbol, self._metrics)
        if entry is not None and 0 <= room.last_seq < entry.seq - self._max_jump:
            self._metrics.seq_jumps.inc()
            return None
        return entry

    def _believe(self, room: Room, seq: int) -> bool:
        """An absurd ``seq`` arrived: True once enough in a row say the room must follow it."""
        self._metrics.seq_jumps.inc()
        room.suspect += 1
        if room.suspect > SEQ_CONFIRM:
            log.warning("following a seq jump", extra={"symbol": room.symbol, "seq": seq,
                                                       "was": room.last_seq})  # fmt: skip
            return True
        if room.suspect == 1:
            log.warning("ignoring an absurd seq", extra={"symbol": room.symbol, "seq": seq,
                                                         "last": room.last_seq})  # fmt: skip
        return False

    def relay(self, room: Room, entry: Entry) -> None:
        """Queue ``entry`` for every member of ``room`` that does not hold it already."""
        seq, last = entry.seq, room.last_seq
        if seq <= last:
            if last - seq <= self._max_jump:
                self.stale += 1
                return
            # Far below: the room followed a poisoned seq, or the counter restarted.
            if not self._believe(room, seq):
                return
            room.floors.clear()
        elif seq > MAX_SEQ:
            self._metrics.seq_jumps.inc()
            return
        else:
            # A fresh room has relayed nothing yet: its members' snapshots are the reference.
            base = last if last >= 0 else max(room.floors.values(), default=-1)
            if base >= 0 and seq - base > self._max_jump and not self._believe(room, seq):
                return
        room.suspect = 0
        room.last_seq = seq
        entry.prev = room.last
        room.last = entry.data
        index = room.index
        dirty = self._dirty
        if room.floors:
            self._relay_with_floors(room, entry)
        else:
            # The hot loop: one append per member, nothing else.
            for client in room.members:
                client.pending[index].append(entry)
                if not client.dirty:
                    client.dirty = True
                    dirty.append(client)
        if dirty:
            self._wake.set()

    def _relay_with_floors(self, room: Room, entry: Entry) -> None:
        index, floors, dirty = room.index, room.floors, self._dirty
        for client in room.members:
            floor = floors.get(client)
            if floor is not None:
                if entry.seq <= floor and floor - entry.seq <= self._max_jump:
                    continue
                del floors[client]
            client.pending[index].append(entry)
            if not client.dirty:
                client.dirty = True
                dirty.append(client)

    def touch(self, client: Client) -> None:
        """Have ``client`` flushed soon (it has control frames, or was held)."""
        if not client.dirty:
            client.dirty = True
            self._dirty.append(client)
        self._wake.set()

    def resumed(self, client: Client) -> None:
        """``client``'s connection drained: give it what it has pending."""
        if client in self._blocked:
            self._blocked.discard(client)
            self.touch(client)

    def forget(self, client: Client) -> None:
        self._blocked.discard(client)
        if client.throttle is not None:
            client.throttle.cancel()

    # --- max_hz (CONTRACT §3 v1.1) -------------------------------------------------------------

    def set_rate(
        self, client: Client, index: int, symbols: list[str], max_hz: float | None
    ) -> None:
        """Deliver ``symbols`` (mode ``index``) to ``client`` at most ``max_hz`` times a second.

        ``None`` restores the full rate. The first live update of a newly throttled symbol
        may go one interval after this call (the snapshot just gave the client its value).
        """
        throttle = client.throttle
        if max_hz is None:
            if throttle is not None:
                for symbol in symbols:
                    throttle.interval[index].pop(symbol, None)
                    throttle.due[index].pop(symbol, None)
            return
        if throttle is None:
            throttle = client.throttle = Throttle()
        interval, due = 1.0 / max_hz, self._clock()
        for symbol in symbols:
            throttle.interval[index][symbol] = interval
            throttle.due[index].setdefault(symbol, due + interval)

    def _throttled(
        self, client: Client, index: int, pending: list[Entry], now: float
    ) -> list[Entry]:
        """What of ``pending`` may go now; the rest (latest per symbol) waits for its slot.

        A held symbol goes at its due time, which is at most one interval after the latest
        value arrived (the previous one went at due - interval, before it arrived).
        """
        throttle = client.throttle
        assert throttle is not None
        # This client's own write time, not the flush's start: a flush of many clients takes
        # milliseconds, which would otherwise shorten the spacing between two of its updates.
        now = max(now, self._clock())
        intervals, dues = throttle.interval[index], throttle.due[index]
        send: list[Entry] = []
        latest: dict[str, Entry] = {}
        for entry in pending:
            if entry.symbol in intervals:
                latest[entry.symbol] = entry
            else:
                send.append(entry)
        held = client.pending[index]
        wake = 0.0
        for symbol, entry in latest.items():
            due = dues.get(symbol, 0.0)
            if now >= due:
                send.append(entry)
                dues[symbol] = now + intervals[symbol]
            else:
                held.append(entry)
                if not wake or due < wake:
                    wake = due
        if wake:
            self._wake_at(client, throttle, wake, now)
        return send

    def _wake_at(self, client: Client, throttle: Throttle, at: float, now: float) -> None:
        if throttle.timer is not None and throttle.timer_at <= at:
            return
        throttle.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # flushed outside a loop (unit tests): the caller flushes again
            return
        throttle.timer_at = at
        throttle.timer = loop.call_later(max(0.0, at - now), self._timer_fired, client)

    def _timer_fired(self, client: Client) -> None:
        throttle = client.throttle
        if throttle is not None:
            throttle.timer = None
        if not client.closing:
            self.touch(client)

    # --- out: flushing -------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush whenever something is pending, with the adaptive window; until cancelled."""
        while True:
            if self._blocked:
                try:
                    await asyncio.wait_for(self._wake.wait(), BLOCKED_CHECK)
                except TimeoutError:
                    self._check_blocked()
                    continue
            else:
                await self._wake.wait()
            # The window: zero when idle (the next loop turn, after whatever else is ready),
            # wider under load, which batches more per frame and bounds the flush cost.
            await asyncio.sleep(self.window)
            self._wake.clear()
            started, cpu = time.perf_counter(), time.process_time()
            self.flush()
            took = time.perf_counter() - started
            self.window = min(self._flush_max, max(self._flush_min, took * WIDEN))
            self._metrics.flushes.inc()
            self._metrics.flush_seconds.inc(took)
            self._metrics.flush_cpu_seconds.inc(time.process_time() - cpu)

    def flush(self) -> None:
        """Write every dirty client's pending frames (or conflate those that cannot take them)."""
        dirty, self._dirty = self._dirty, []
        now = self._clock()
        now_ms = time.time() * 1000.0
        frames: _Frames = {}
        plans: dict[tuple[Entry, ...], _Plan] = {}
        n_frames = [0, 0, 0]
        n_items = [0, 0, 0]
        control = 0
        conflated = 0
        for client in dirty:
            client.dirty = False
            if client.closing:
                continue
            if client.hold:  # mid-subscribe; touched again when it ends
                _cap(client)
                continue
            outlet = client.outlet
            if client.control:
                for frame in client.control:
                    outlet.write_text(frame)
                control += len(client.control)
                client.control.clear()
            if not outlet.writable():
                conflated += self._hold_back(client, now)
                continue
            client.behind_since = None
            for index in _INDEXES:
                pending = client.pending[index]
                if not pending:
                    continue
                client.pending[index] = []
                throttle = client.throttle
                if throttle is not None and throttle.interval[index]:
                    pending = self._throttled(client, index, pending, now)
                    if not pending:
                        continue
                if index == 0 and client.held is not None:
                    built = self._compact_frame(frames, plans, client.held, pending, now_ms)
                else:
                    built = self._frame(frames, index, pending, now_ms)
                outlet.write_text(built.frame)
                built.uses += 1
                n_frames[index] += 1
                n_items[index] += len(pending)
        self._account(frames, n_frames, n_items, control, conflated)

    @staticmethod
    def _frame(
        frames: _Frames,
        index: int,
        pending: list[Entry],
        now_ms: float,
    ) -> _Built:
        """The frame of ``pending``, built once per flush for every client that has it."""
        key = (index, tuple(pending))
        built = frames.get(key)
        if built is None:
            oldest = min(e.ingest_ts for e in pending)
            frame = batch_frame(_EVENTS[index], [e.data for e in pending])
            built = frames[key] = _Built(frame, max(0.0, now_ms - oldest) / 1000.0)
        return built

    @staticmethod
    def _compact_frame(
        frames: _Frames,
        plans: dict[tuple[Entry, ...], _Plan],
        held: dict[str, bytes],
        pending: list[Entry],
        now_ms: float,
    ) -> _Built:
        """A compact client's ``ticks`` frame: delta rows where it holds the previous message.

        Rows are cached on the entries and frames by content, so clients of a room that hold
        the same previous state share both. The common case — the client is in step for
        every entry — is checked and recorded with C-level passes over a plan built once per
        distinct pending list per flush.
        """
        pending_key = tuple(pending)
        steps = plans.get(pending_key)
        if steps is None:
            steps = plans[pending_key] = _Plan(pending)
        if all(map(is_, map(held.get, steps.symbols, steps.missing), steps.prevs)):
            held.update(zip(steps.symbols, steps.datas, strict=True))
            key: tuple[object, ...] = (2, pending_key)
            keyed: list[Entry] | None = None
        else:
            keyed = []
            for entry in pending:
                symbol = entry.symbol
                # In step: it holds exactly what the room relayed before this entry.
                if held.get(symbol, _MISSING) is not entry.prev:
                    keyed.append(entry)
                held[symbol] = entry.data
            key = (3, pending_key, tuple(keyed))
        built = frames.get(key)
        if built is None:
            keys = set(keyed or ())
            rows = [e.key_row() if e in keys else e.delta_row() for e in pending]
            oldest = min(e.ingest_ts for e in pending)
            built = _Built(batch_frame(TICKS, rows), max(0.0, now_ms - oldest) / 1000.0)
            frames[key] = built
        return built

    def _hold_back(self, client: Client, now: float) -> int:
        """``client`` cannot take more now: conflate, and cut it off if blocked too long."""
        dropped = 0
        for index in _INDEXES:
            pending = client.pending[index]
            if len(pending) > 1:
                kept = conflate(pending)
                dropped += len(pending) - len(kept)
                client.pending[index] = kept
        if client.behind_since is None:
            client.behind_since = now
        self._blocked.add(client)
        if now - client.behind_since > self._slow_seconds:
            self._blocked.discard(client)
            self._on_slow(client)
        return dropped

    def _check_blocked(self) -> None:
        now = self._clock()
        for client in list(self._blocked):
            if client.closing:
                self._blocked.discard(client)
            elif client.outlet.writable():
                self.resumed(client)
            elif client.behind_since is not None and now - client.behind_since > self._slow_seconds:
                self._blocked.discard(client)
                self._on_slow(client)

    def _account(
        self,
        frames: _Frames,
        n_frames: list[int],
        n_items: list[int],
        control: int,
        conflated: int,
    ) -> None:
        m = self._metrics
        for built in frames.values():
            m.latency.observe(built.latency, built.uses)
        for index, event in enumerate(_EVENTS):
            if n_frames[index]:
                m.frames_out.labels(event).inc(n_frames[index])
                m.ticks_out.labels(_MODES[index]).inc(n_items[index])
        if control:
            m.frames_out.labels("control").inc(control)
        if conflated:
            m.conflated.inc(conflated)
