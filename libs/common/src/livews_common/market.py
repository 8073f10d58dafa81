"""The NSE/BSE equity session calendar (IST) and a market clock tests can speed up.

Sessions, in India Standard Time (UTC+05:30, no daylight saving):

- ``pre_open`` 09:00–09:15 (order entry until 09:08, then matching; few or no trades reach
  the feed until the normal session);
- ``open`` 09:15–15:30 (the normal session);
- ``closed`` otherwise, all day on Saturdays, Sundays and trading holidays.

Holidays come from a text file (one ``YYYY-MM-DD`` per line, ``#`` comments, text after the
date ignored). The package ships the exchange's list for the current year
(``nse_holidays.txt``); it must be checked against the NSE circular every December.

Both the ingestor (its stall watchdog and ``md:status`` ``market``) and the emulator (no trades
while closed) read a :class:`MarketClock`: wall time by default, or — for tests — a clock that
starts at a chosen instant and runs ``speed`` times faster, so a test can cross 15:30 in
seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from importlib import resources
from pathlib import Path

from livews_common.models import MarketState

MARKET_STATES: tuple[MarketState, ...] = ("pre_open", "open", "closed")

IST = timezone(timedelta(hours=5, minutes=30), "IST")
PRE_OPEN = dtime(9, 0)
OPEN = dtime(9, 15)
CLOSE = dtime(15, 30)


class HolidayFileError(ValueError):
    """A holidays file that cannot be read or has a line that is not a date."""


def parse_holidays(lines: Iterable[str], source: str = "holidays") -> frozenset[date]:
    days: set[date] = set()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        first = text.split(None, 1)[0]
        try:
            days.add(date.fromisoformat(first))
        except ValueError:
            raise HolidayFileError(
                f"{source} line {number}: {first!r} is not a date (YYYY-MM-DD)"
            ) from None
    return frozenset(days)


def default_holidays() -> frozenset[date]:
    """The holiday list shipped with the package."""
    text = resources.files("livews_common").joinpath("nse_holidays.txt").read_text("utf-8")
    return parse_holidays(text.splitlines(), "nse_holidays.txt")


def load_holidays(path: Path | None) -> frozenset[date]:
    """The holidays in ``path``, or the shipped list when ``path`` is None."""
    if path is None:
        return default_holidays()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise HolidayFileError(f"cannot read the holidays file {path}: {exc.strerror}") from None
    return parse_holidays(text.splitlines(), str(path))


class Calendar:
    """Which session an instant falls in."""

    def __init__(self, holidays: Iterable[date] = ()) -> None:
        self.holidays = frozenset(holidays)

    def trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def state_at(self, when: datetime) -> MarketState:
        """The session at ``when`` (an aware datetime; naive ones are taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        local = when.astimezone(IST)
        if not self.trading_day(local.date()):
            return "closed"
        t = local.time()
        if PRE_OPEN <= t < OPEN:
            return "pre_open"
        if OPEN <= t < CLOSE:
            return "open"
        return "closed"

    def next_change(self, when: datetime) -> datetime:
        """The first instant after ``when`` at which the session differs (within 30 days)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        local = when.astimezone(IST)
        current = self.state_at(local)
        day = local.date()
        for _ in range(31):
            for edge in (PRE_OPEN, OPEN, CLOSE):
                at = datetime.combine(day, edge, IST)
                if at > local and self.state_at(at) != current:
                    return at
            day += timedelta(days=1)
        return local + timedelta(days=30)


class MarketClock:
    """Market time: wall time, or ``start`` plus ``speed`` × the real time elapsed since."""

    def __init__(
        self,
        calendar: Calendar,
        *,
        start: datetime | None = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calendar = calendar
        self._monotonic = monotonic
        self.override: MarketState | None = None
        self.simulated = False
        self.speed = 1.0
        self._anchor_market = datetime.now(UTC)
        self._anchor_real = monotonic()
        if start is not None or speed != 1.0:
            self.set(start=start, speed=speed)

    def set(self, *, start: datetime | None = None, speed: float | None = None) -> None:
        """Re-anchor: from now, market time runs from ``start`` (or where it is) at ``speed``."""
        if speed is not None and not speed > 0:
            raise ValueError("speed must be > 0")
        anchor = start if start is not None else self.now()
        self._anchor_market = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
        self._anchor_real = self._monotonic()
        if speed is not None:
            self.speed = speed
        self.simulated = True

    def now(self) -> datetime:
        if not self.simulated:
            return datetime.now(UTC)
        elapsed = (self._monotonic() - self._anchor_real) * self.speed
        return self._anchor_market + timedelta(seconds=elapsed)

    def state(self) -> MarketState:
        """The forced state if one is set, else the calendar's at market time now."""
        if self.override is not None:
            return self.override
        return self.calendar.state_at(self.now())

    def is_open(self) -> bool:
        return self.state() != "closed"


__all__ = [
    "CLOSE",
    "IST",
    "MARKET_STATES",
    "OPEN",
    "PRE_OPEN",
    "Calendar",
    "HolidayFileError",
    "MarketClock",
    "MarketState",
    "default_holidays",
    "load_holidays",
    "parse_holidays",
]
