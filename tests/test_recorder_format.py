"""The fleet tests' encoding switch is real (issue #17).

``LIVEWS_TEST_FORMAT=compact`` makes every RecordingClient connect with ``format: "compact"``:
the gateway then sends compact rows (lists), not Tick v1 objects, and the client decodes them
back into the same Tick dicts md:last holds. ``make test-compact`` runs the fleet e2e tests so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livews_devtools.fleet import Fleet, poll
from livews_devtools.recorder import RecordingClient, default_encoding

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:TCS-EQ"]


@pytest.fixture
def fleet(shared_fleet: Fleet) -> Iterator[Fleet]:
    shared_fleet.admin("reset")
    yield shared_fleet
    shared_fleet.admin("reset")


def test_the_default_encoding_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEWS_TEST_FORMAT", raising=False)
    assert default_encoding() == "json"
    monkeypatch.setenv("LIVEWS_TEST_FORMAT", "compact")
    assert default_encoding() == "compact"
    assert RecordingClient("http://x", _no_token, SYMBOLS).encoding == "compact"
    monkeypatch.setenv("LIVEWS_TEST_FORMAT", "msgpack")
    with pytest.raises(ValueError, match="LIVEWS_TEST_FORMAT"):
        default_encoding()


async def _no_token() -> str:
    raise AssertionError("not connected in this test")


async def test_compact_clients_get_rows_and_hold_md_last(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEWS_TEST_FORMAT", "compact")
    compact = await fleet.client(SYMBOLS, keep_raw=True)
    plain = await fleet.client(SYMBOLS, encoding="json", keep_raw=True)
    assert (compact.encoding, plain.encoding) == ("compact", "json")
    await poll(lambda: compact.rec.ticks >= 20 and plain.rec.ticks >= 20, 20, "live ticks")

    rows = [item for payload in compact.rec.raw_frames for item in payload]
    objects = [item for payload in plain.rec.raw_frames for item in payload]
    assert rows and all(isinstance(row, list) for row in rows), rows[:3]
    assert objects and all(isinstance(tick, dict) for tick in objects), objects[:3]
    # delta rows (an integer mask third) are what make compact compact: some must have come
    assert any(not isinstance(row[2], str) for row in rows), rows[:5]
    for tick in compact.rec.latest.values():
        assert tick["v"] == 1 and isinstance(tick["ltp"], float | int)

    await fleet.quiesce()
    await fleet.assert_clients_match_md_last([compact, plain])
    assert compact.rec.seqs() == plain.rec.seqs()
    assert compact.rec.latest == plain.rec.latest
    # the same ticks in fewer bytes
    per_tick_compact = compact.rec.wire_bytes / compact.rec.ticks
    per_tick_json = plain.rec.wire_bytes / plain.rec.ticks
    assert per_tick_compact < per_tick_json, (per_tick_compact, per_tick_json)
