"""The market model: a seeded random walk per instrument, kept in the data socket's own units.

Prices are integers in paise (the socket's ``precision`` 2, ``multiplier`` 1), laid out in
the SDK's field order so that an update is one ``struct.pack`` away. Each tick is one trade:
the last price moves by a few ticks (mean-reverting towards a per-day fair value, clamped to
the circuit limits), the trade happens at the bid or the ask, volume and VWAP accumulate,
high/low follow, and five depth levels step away from the best bid/ask. Indices only move
their value. With the same seed the sequence of ticks is the same; timestamps are wall time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Container, Sequence

from fyers_emulator.universe import Instrument

NO_VALUE = -2_147_483_648  # the socket's "no value"
PRECISION = 2
MULTIPLIER = 1
_SCALE: int = 10**PRECISION * MULTIPLIER

# Quote fields, in the SDK's ``data_val`` order (21 values on the wire).
(LTP, VOL, LTT, EFT, BID_QTY, ASK_QTY, BID, ASK, LTQ, TBQ, TSQ, ATP, OI,
 LOW, HIGH, YHIGH, YLOW, LOWER_CKT, UPPER_CKT, OPEN, PREV_CLOSE) = range(21)  # fmt: skip
QUOTE_FIELDS = 21
# Index fields, in the SDK's ``index_val`` order.
I_LTP, I_PREV_CLOSE, I_EFT, I_HIGH, I_LOW, I_OPEN = range(6)
INDEX_FIELDS = 6
# Depth: bid prices 1-5, ask prices 1-5, bid sizes, ask sizes, bid orders, ask orders.
DEPTH_FIELDS = 30

_VOLUME_CEILING = 2_000_000_000  # stay inside int32 on long, fast runs
_REVERSION = 0.001  # pull towards fair value per tick
_SIGMA = 0.0002  # per-tick standard deviation, fraction of price

Tick = tuple[int, tuple[int, ...], tuple[int, ...] | None]
"""(instrument index, field values after the tick, depth values or None)."""


class _State:
    __slots__ = ("depth", "fair", "is_index", "lot", "sigma", "tick", "turnover", "values")

    def __init__(self, inst: Instrument, rng: random.Random, now: int) -> None:
        self.tick = max(1, round(inst.tick_size * _SCALE))
        self.lot = inst.lot_size
        self.is_index = inst.kind == "index"
        tick = self.tick

        def px(rupees: float) -> int:
            return max(tick, round(rupees * _SCALE / tick) * tick)

        prev = px(inst.prev_close)
        open_ = px(inst.prev_close * (1 + rng.gauss(0, 0.005)))
        ltp = px(inst.prev_close * (1 + rng.gauss(0, 0.006)))
        high = max(open_, ltp) + tick * rng.randint(0, 20)
        low = max(tick, min(open_, ltp) - tick * rng.randint(0, 20))
        self.fair = prev * (1 + rng.gauss(0, 0.008))
        self.sigma = max(0.6, prev * _SIGMA / tick)
        self.depth: tuple[int, ...] | None = None
        if self.is_index:
            self.values = [ltp, prev, now, high, low, open_]
            self.turnover = 0
            return
        vol = self.lot * int(rng.uniform(0.2, 0.6) * 4e9 / max(1.0, inst.prev_close) / self.lot)
        atp = (open_ + ltp) // 2
        self.turnover = atp * vol
        band = 0.1 if inst.kind == "future" else 0.2
        oi = self.lot * rng.randint(20_000, 200_000) if inst.kind == "future" else NO_VALUE
        self.values = [
            ltp, vol, now, now, self.lot * rng.randint(1, 400), self.lot * rng.randint(1, 400),
            ltp - tick, ltp, self.lot, rng.randint(100_000, 3_000_000),
            rng.randint(100_000, 3_000_000), atp, oi, low, high, px(inst.prev_close * 1.3),
            px(inst.prev_close * 0.72), px(inst.prev_close * (1 - band)),
            px(inst.prev_close * (1 + band)), open_, prev,
        ]  # fmt: skip


class Market:
    """Every instrument's state; ``step`` advances it by ``n`` trades."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        seed: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instruments = tuple(instruments)
        self._rng = random.Random(seed)
        now = int(clock())
        self._states = [_State(inst, self._rng, now) for inst in self.instruments]
        for i in range(len(self._states)):
            self._states[i].depth = self._depth(self._states[i])

    def values(self, idx: int) -> tuple[int, ...]:
        """The current field values of instrument ``idx`` (quote or index layout)."""
        return tuple(self._states[idx].values)

    def depth(self, idx: int) -> tuple[int, ...] | None:
        """The current five-level depth of instrument ``idx`` (None for an index)."""
        st = self._states[idx]
        return None if st.is_index else st.depth

    def step(self, n: int, now: int, depth_wanted: Container[int] = ()) -> list[Tick]:
        """Advance ``n`` random trades at epoch second ``now``; depth only where wanted."""
        rng = self._rng
        rand, gauss, randrange = rng.random, rng.gauss, rng.randrange
        states, count = self._states, len(self._states)
        out: list[Tick] = []
        append = out.append
        for _ in range(n):
            idx = randrange(count)
            st = states[idx]
            v = st.values
            tick = st.tick
            ltp = v[0]
            steps = round(gauss((st.fair - ltp) / tick * _REVERSION, st.sigma))
            if st.is_index:
                if steps == 0:
                    steps = 1 if rand() < 0.5 else -1
                ltp += steps * tick
                v[0] = ltp
                v[I_EFT] = now
                if ltp > v[I_HIGH]:
                    v[I_HIGH] = ltp
                elif ltp < v[I_LOW]:
                    v[I_LOW] = ltp
                append((idx, tuple(v), None))
                continue
            ltp = min(max(ltp + steps * tick, v[LOWER_CKT]), v[UPPER_CKT])
            spread = tick if rand() < 0.7 else 2 * tick
            if steps > 0 or (steps == 0 and rand() < 0.5):
                v[ASK], v[BID] = ltp, ltp - spread
            else:
                v[BID], v[ASK] = ltp, ltp + spread
            lot = st.lot
            qty = lot * (1 + int(rand() ** 3 * 300))
            vol = v[VOL] + qty
            turnover = st.turnover + qty * ltp
            if vol > _VOLUME_CEILING:  # a new "session": keep VWAP, shed volume
                vol //= 2
                turnover //= 2
            st.turnover = turnover
            v[LTP], v[VOL], v[LTQ], v[ATP] = ltp, vol, qty, turnover // vol
            v[LTT] = v[EFT] = now
            v[BID_QTY] = lot * (1 + int(rand() * 400))
            v[ASK_QTY] = lot * (1 + int(rand() * 400))
            v[TBQ] = max(lot, v[TBQ] + lot * int((rand() - 0.5) * 2000))
            v[TSQ] = max(lot, v[TSQ] + lot * int((rand() - 0.5) * 2000))
            if v[OI] != NO_VALUE:
                v[OI] = max(lot, v[OI] + lot * int((rand() - 0.5) * 20))
            if ltp > v[HIGH]:
                v[HIGH] = ltp
            elif ltp < v[LOW]:
                v[LOW] = ltp
            depth = None
            if idx in depth_wanted:
                depth = st.depth = self._depth(st)
            append((idx, tuple(v), depth))
        return out

    def _depth(self, st: _State) -> tuple[int, ...] | None:
        if st.is_index:
            return None
        v, tick, lot, rand = st.values, st.tick, st.lot, self._rng.random
        bid, ask = v[BID], v[ASK]
        bid_qty = [v[BID_QTY], *(lot * (1 + int(rand() * 1500)) for _ in range(4))]
        ask_qty = [v[ASK_QTY], *(lot * (1 + int(rand() * 1500)) for _ in range(4))]
        return (
            *(max(tick, bid - i * tick) for i in range(5)),
            *(ask + i * tick for i in range(5)),
            *bid_qty,
            *ask_qty,
            *(min(q // lot, 1 + int(rand() * 40)) for q in bid_qty),
            *(min(q // lot, 1 + int(rand() * 40)) for q in ask_qty),
        )
