"""Several upstream sockets: demand over one socket's limit spreads over more, each on its own.

A real emulator enforcing a low per-socket limit (``FYERS_EMULATOR_SOCKET_SYMBOLS``), a real
ingestor process with the same ``MARKETDATA_SOCKET_SYMBOLS``, real Redis.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from md_harness import WATCHLIST, WatchFactory

from livews_devtools.fleet_marketdata import metric_value, start_marketdata, wait_for
from livews_devtools.pytest_plugin import Emulator, Spawn, start_emulator

PER_SOCKET = 20  # the 52-symbol watchlist needs 3 sockets: 20 + 20 + 12


def _state(emulator: Emulator) -> dict[str, int]:
    body = httpx.get(f"{emulator.url}/admin/state", timeout=5).json()
    connects = metric_value(
        httpx.get(f"{emulator.url}/metrics", timeout=5).text,
        "fyers_emulator_data_socket_connects_total",
    )
    return {"sockets": body["sockets"], "topics": body["subscribed_topics"],
            "connects": int(connects)}  # fmt: skip


def _ingested(tick: dict[str, object]) -> float:
    """When the ingestor received the tick (s); our own poll times would come later."""
    stamp = tick.get("ingest_ts")
    return stamp / 1000 if isinstance(stamp, int) else 0.0


def test_three_sockets_one_dropped_is_rebuilt_alone(
    spawn: Spawn, tmp_path: Path, redis_url: str, watch: WatchFactory
) -> None:
    emulator = start_emulator(spawn, tmp_path, FYERS_EMULATOR_SOCKET_SYMBOLS=str(PER_SOCKET))
    md = start_marketdata(
        spawn, tmp_path, redis_url, emulator,
        MARKETDATA_SOCKET_SYMBOLS=str(PER_SOCKET), MARKETDATA_SOCKETS="3",
    )  # fmt: skip
    feed = watch("md:tick:*")
    feed.until(lambda w: WATCHLIST <= w.symbols_seen(), 30, "every watchlist symbol")
    before = _state(emulator)
    assert before["sockets"] == 3 and before["topics"] == len(WATCHLIST), before
    # Symbols are placed in sorted order, first fit: the last ones are on the third socket.
    ordered = sorted(WATCHLIST)
    third, others = set(ordered[2 * PER_SOCKET :]), set(ordered[: 2 * PER_SOCKET])
    victim = ordered[-1]

    dropped_at = time.time()
    emulator.admin("drop", symbol=victim)
    wait_for(lambda: _state(emulator)["connects"] > before["connects"], 20, "a socket rebuilt")
    rebuilt_at = time.time()
    feed.poll(0.1)
    back = feed.until(
        lambda w: next((_ingested(d) for _, _, d in w.messages
                        if _ingested(d) > rebuilt_at and d.get("symbol") == victim), None),
        20, "the dropped socket's symbols again",
    )  # fmt: skip
    wait_for(lambda: _state(emulator)["topics"] == len(WATCHLIST), 10, "all topics again")
    feed.poll(2.0)
    after = _state(emulator)
    # While the third socket was down (drop → its replacement connected), the others streamed.
    during = {d.get("symbol") for _, _, d in feed.messages
              if dropped_at < _ingested(d) < rebuilt_at}  # fmt: skip
    reconnects = md.metric("livews_marketdata_upstream_reconnects_total", reason="dropped")
    print(
        f"\nBOUND sockets={after['sockets']}"
        f" new_connections={after['connects'] - before['connects']}"
        f" reconnect_s={rebuilt_at - dropped_at:.2f} data_again_s={back - dropped_at:.2f}"
        f" other_symbols_ticking_meanwhile={len(during & others)}"
        f" its_symbols_by_then={len(during & third)} supervisor_reconnects={reconnects}"
    )
    assert after["sockets"] == 3
    assert after["connects"] - before["connects"] == 1  # only the dropped socket was rebuilt
    assert reconnects == 0  # the supervisor never tore the upstream down
    assert during & others  # the other two sockets streamed on while it was rebuilt
    flowing = {d.get("symbol") for _, _, d in feed.messages if _ingested(d) > back}
    assert WATCHLIST <= flowing  # every symbol flows afterwards
