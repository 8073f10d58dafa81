"""The feed: steps the market on a timer and fans each batch out to the data sockets.

Every ``batch_interval`` it advances the market by as many ticks as the current rate (burst
included) allows, then builds each socket's frame(s): first 83 snapshots of topics it has
just subscribed, then an 85 (full) or 76 (lite) entry per tick of each topic it streams, and
85 depth entries for its depth topics. An entry is encoded once per batch however many
sockets want it. During a stall the market keeps moving but nothing is sent (snapshots wait).
Ownership: the app's lifespan runs ``run()`` as a task and cancels and awaits it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

from fyers_emulator.faults import Faults
from fyers_emulator.hsm import protocol
from fyers_emulator.hsm.session import Session
from fyers_emulator.market import DEPTH_FIELDS, INDEX_FIELDS, QUOTE_FIELDS, Market, Tick
from fyers_emulator.metrics import Metrics
from fyers_emulator.tokens import TokenService
from fyers_emulator.universe import Instrument

log = logging.getLogger(__name__)

CLOSE_DROPPED = 1001  # going away: the emulator dropped the connection on purpose
CLOSE_POLICY = 1008  # auth refused or token expired


class Feed:
    """The sessions, their subscriptions, and the timer that streams to them."""

    def __init__(
        self,
        market: Market,
        tokens: TokenService,
        faults: Faults,
        metrics: Metrics,
        *,
        batch_interval: float,
        seed: int,
    ) -> None:
        self.market = market
        self.instruments: Sequence[Instrument] = market.instruments
        self.instruments_by_symbol = {inst.symbol: inst for inst in self.instruments}
        self._tokens, self._faults, self._metrics = tokens, faults, metrics
        self._interval = batch_interval
        self._rng = random.Random(seed + 1)  # garbage frames; keeps the market's sequence intact
        self.sessions: set[Session] = set()
        self.running = False
        self._quote_codecs: list[protocol.TopicCodec] = []
        self._depth_codecs: list[protocol.TopicCodec | None] = []
        self.topics: dict[str, tuple[int, bool]] = {}  # topic name → (instrument, is depth)
        for idx, inst in enumerate(self.instruments):
            fields = INDEX_FIELDS if inst.kind == "index" else QUOTE_FIELDS
            names = (inst.exchange, inst.exchange_token, inst.ticker)
            codec = protocol.TopicCodec(2 * idx + 1, inst.quote_topic, fields, *names)
            self._quote_codecs.append(codec)
            self.topics[inst.quote_topic] = (idx, False)
            depth = inst.depth_topic
            if depth is None:
                self._depth_codecs.append(None)
            else:
                self._depth_codecs.append(
                    protocol.TopicCodec(2 * idx + 2, depth, DEPTH_FIELDS, *names)
                )
                self.topics[depth] = (idx, True)

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(self, session: Session, topics: list[str], channel: int) -> int:
        """Add known topics (unknown ones are ignored); return how many were added."""
        added = 0
        for topic in topics:
            found = self.topics.get(topic)
            if found is None:
                continue
            idx, is_depth = found
            target, pending = (
                (session.depths, session.pending_depths)
                if is_depth
                else (session.quotes, session.pending_quotes)
            )
            target[idx] = channel
            pending.add(idx)  # a fresh snapshot on every subscribe, like a new subscription
            added += 1
        session.refresh_live()
        self._update_gauges()
        return added

    def new_topic_count(self, session: Session, topics: list[str]) -> int:
        """How many topics ``session`` would hold after subscribing ``topics``."""
        new = 0
        for topic in set(topics):
            found = self.topics.get(topic)
            if found is not None:
                idx, is_depth = found
                new += idx not in (session.depths if is_depth else session.quotes)
        return session.topic_count + new

    def unsubscribe(self, session: Session, topics: list[str]) -> None:
        for topic in topics:
            found = self.topics.get(topic)
            if found is None:
                continue
            idx, is_depth = found
            if is_depth:
                session.depths.pop(idx, None)
                session.pending_depths.discard(idx)
            else:
                session.quotes.pop(idx, None)
                session.pending_quotes.discard(idx)
        session.refresh_live()
        self._update_gauges()

    def _update_gauges(self) -> None:
        self._metrics.subscriptions.set(sum(s.topic_count for s in self.sessions))
        self._metrics.sockets.set(len(self.sessions))

    def add(self, session: Session) -> None:
        self.sessions.add(session)
        self._update_gauges()

    def remove(self, session: Session) -> None:
        self.sessions.discard(session)
        self._update_gauges()

    # -- faults on open sockets ---------------------------------------------------------

    def drop_all(self) -> int:
        for session in self.sessions:
            session.close(CLOSE_DROPPED, "dropped by the emulator", flush=False)
        return len(self.sessions)

    def drop_holding(self, symbol: str) -> int:
        """Close only the sockets subscribed to ``symbol`` (quotes or depth); how many."""
        inst = self.instruments_by_symbol.get(symbol)
        if inst is None:
            return 0
        idx = self.instruments.index(inst)
        holding = [s for s in self.sessions if idx in s.quotes or idx in s.depths]
        for session in holding:
            session.close(CLOSE_DROPPED, "dropped by the emulator", flush=False)
        return len(holding)

    def inject_garbage(self, count: int) -> None:
        frames = protocol.garbage(self._rng, count)
        for session in self.sessions:
            if session.authenticated:
                for frame in frames:
                    session.send_control(frame)

    def close_expired(self) -> int:
        """Send the expired-token reply to every socket whose token expired, and close it."""
        closed = 0
        reply = protocol.custom_message(
            protocol.TOKEN_EXPIRED_CODE, "Token is expired", protocol.AUTH
        )
        for session in self.sessions:
            if session.grant is not None and self._tokens.is_expired(session.grant):
                session.send_control(reply)
                session.close(CLOSE_POLICY, "token expired", flush=True)
                closed += 1
        return closed

    # -- the timer ----------------------------------------------------------------------

    async def run(self) -> None:
        """Step and stream until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        budget = 0.0
        next_expiry_check = last + 1.0
        self.running = True
        try:
            while True:
                await asyncio.sleep(self._interval)
                now = loop.time()
                rate = self._faults.current_rate()
                self._metrics.tick_rate.set(rate)
                # At most half a second of backlog: a busy machine slows the feed, not floods it.
                budget = min(budget + rate * (now - last), rate * 0.5 + 1.0)
                last = now
                n = int(budget)
                budget -= n
                self.step(n, int(time.time()))
                if now >= next_expiry_check:
                    next_expiry_check = now + 1.0
                    self.close_expired()
        finally:
            self.running = False

    def step(self, n: int, now: int) -> None:
        """One batch: advance the market by ``n`` ticks and queue what each socket wants."""
        depth_wanted = {i for s in self.sessions if not s.lite for i in s.depths}
        ticks = self.market.step(n, now, depth_wanted)
        self._metrics.ticks.inc(n)
        if self._faults.stalled():
            return
        if self._faults.invalid_symbols:
            blocked = {
                i for i, inst in enumerate(self.instruments)
                if inst.symbol in self._faults.invalid_symbols
            }  # fmt: skip
            ticks = [t for t in ticks if t[0] not in blocked]
        else:
            blocked = set()
        full: list[bytes | None] = [None] * len(ticks)
        lite: list[bytes | None] = [None] * len(ticks)
        depth: list[bytes | None] = [None] * len(ticks)
        for session in self.sessions:
            if session.closing or not session.authenticated:
                continue
            entries = self._snapshots(session, blocked)
            self._updates(session, ticks, full, lite, depth, entries)
            if entries:
                frames = protocol.data_frames(session.msg_no, entries)
                session.msg_no += len(frames)
                dropped = session.send_data(frames)
                self._metrics.frames_sent.inc(len(frames) - dropped)
                if dropped:
                    self._metrics.frames_dropped.inc(dropped)

    def _snapshots(self, session: Session, blocked: set[int]) -> list[bytes]:
        entries: list[bytes] = []
        if not (session.pending_quotes or session.pending_depths):
            return entries
        for idx in sorted(session.pending_quotes - blocked):
            entries.append(self._quote_codecs[idx].snapshot(self.market.values(idx)))
            session.pending_quotes.discard(idx)
        for idx in sorted(session.pending_depths - blocked):
            session.pending_depths.discard(idx)
            codec, values = self._depth_codecs[idx], self.market.depth(idx)
            if session.lite or codec is None or values is None:
                continue  # lite mode carries no depth
            entries.append(codec.snapshot(values))
        if entries:
            self._metrics.updates_sent.labels("snapshot").inc(len(entries))
        session.refresh_live()
        return entries

    def _updates(
        self,
        session: Session,
        ticks: list[Tick],
        full: list[bytes | None],
        lite: list[bytes | None],
        depth: list[bytes | None],
        entries: list[bytes],
    ) -> None:
        quotes, depths = session.live_quotes, session.live_depths
        codecs = self._quote_codecs
        start = len(entries)
        if session.lite:
            for i, (idx, values, _) in enumerate(ticks):
                if idx in quotes:
                    entry = lite[i]
                    if entry is None:
                        entry = lite[i] = codecs[idx].lite(values[0])
                    entries.append(entry)
            self._metrics.updates_sent.labels("lite").inc(len(entries) - start)
            return
        for i, (idx, values, depth_values) in enumerate(ticks):
            if idx in quotes:
                entry = full[i]
                if entry is None:
                    entry = full[i] = codecs[idx].update(values)
                entries.append(entry)
            if depth_values is not None and idx in depths:
                entry = depth[i]
                if entry is None:
                    codec = self._depth_codecs[idx]
                    assert codec is not None
                    entry = depth[i] = codec.update(depth_values)
                entries.append(entry)
        self._metrics.updates_sent.labels("full").inc(len(entries) - start)
