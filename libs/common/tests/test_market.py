"""The session calendar at its edges, holidays files, and the test clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from livews_common.market import (
    IST,
    Calendar,
    HolidayFileError,
    MarketClock,
    default_holidays,
    load_holidays,
)

CAL = Calendar(default_holidays())


def ist(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=IST)


@pytest.mark.parametrize(
    ("when", "state"),
    [
        (ist(2026, 12, 4, 8, 59, 59), "closed"),
        (ist(2026, 12, 4, 9, 0), "pre_open"),
        (ist(2026, 12, 4, 9, 8), "pre_open"),
        (ist(2026, 12, 4, 9, 14, 59), "pre_open"),
        (ist(2026, 12, 4, 9, 15), "open"),
        (ist(2026, 12, 4, 15, 29, 59), "open"),
        (ist(2026, 12, 4, 15, 30), "closed"),
        (ist(2026, 12, 5, 11, 0), "closed"),  # Saturday
        (ist(2026, 12, 6, 11, 0), "closed"),  # Sunday
        (ist(2026, 1, 26, 11, 0), "closed"),  # Republic Day
        (ist(2026, 12, 25, 11, 0), "closed"),  # Christmas
        (ist(2026, 12, 24, 11, 0), "open"),
    ],
)
def test_sessions_at_the_edges(when: datetime, state: str) -> None:
    assert CAL.state_at(when) == state


def test_utc_input_is_converted_to_ist() -> None:
    # 03:45 UTC is 09:15 IST.
    assert CAL.state_at(datetime(2026, 12, 4, 3, 45, tzinfo=UTC)) == "open"
    assert CAL.state_at(datetime(2026, 12, 4, 3, 44, 59)) == "pre_open"  # naive = UTC


def test_next_change_skips_weekends_and_holidays() -> None:
    assert CAL.next_change(ist(2026, 12, 4, 10, 0)) == ist(2026, 12, 4, 15, 30)
    assert CAL.next_change(ist(2026, 12, 4, 9, 5)) == ist(2026, 12, 4, 9, 15)
    # Friday after the close -> Monday's pre-open.
    assert CAL.next_change(ist(2026, 12, 4, 16, 0)) == ist(2026, 12, 7, 9, 0)
    # Thursday 24 Dec after the close -> Christmas (Fri) is a holiday -> Monday 28th.
    assert CAL.next_change(ist(2026, 12, 24, 16, 0)) == ist(2026, 12, 28, 9, 0)


def test_holidays_file(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("# comment\n\n2027-01-26 Republic Day\n2027-03-22  # Holi\n")
    assert load_holidays(path) == frozenset({date(2027, 1, 26), date(2027, 3, 22)})
    path.write_text("2027-01-26\n26/01/2027\n")
    with pytest.raises(HolidayFileError, match="line 2"):
        load_holidays(path)
    with pytest.raises(HolidayFileError, match="cannot read"):
        load_holidays(tmp_path / "missing.txt")


def test_shipped_list_is_weekdays_of_one_year() -> None:
    days = default_holidays()
    assert len(days) >= 10
    assert all(d.weekday() < 5 for d in days)


def test_clock_runs_fast_from_a_start_and_can_be_forced() -> None:
    now = [100.0]
    clock = MarketClock(CAL, start=ist(2026, 12, 4, 15, 29), speed=60, monotonic=lambda: now[0])
    assert clock.state() == "open"
    now[0] += 0.99  # 59.4 market seconds
    assert clock.state() == "open"
    now[0] += 0.02  # past 15:30
    assert clock.state() == "closed"
    assert clock.now() - ist(2026, 12, 4, 15, 30) < timedelta(seconds=1)
    clock.override = "open"
    assert clock.is_open()
    clock.override = None
    clock.set(speed=1.0)
    assert clock.speed == 1.0
    with pytest.raises(ValueError):
        clock.set(speed=0)


def test_wall_clock_by_default() -> None:
    clock = MarketClock(CAL)
    assert not clock.simulated
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
