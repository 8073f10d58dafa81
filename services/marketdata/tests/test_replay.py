"""Record the normalized stream to a file, then replay it as the source (fresh seq, ×N)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from md_harness import WatchFactory, assert_seq_increasing, last_ticks

from livews_devtools.fleet_marketdata import start_marketdata, wait_for
from livews_devtools.pytest_plugin import Emulator, Spawn


def test_record_then_replay_continues_seq(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, watch: WatchFactory
) -> None:
    recording = tmp_path / "recording.jsonl"
    # Subscribed before the recorder starts, so it sees the file's first tick too.
    feed = watch("md:tick:*")
    recorder = start_marketdata(
        spawn, tmp_path, redis_url, emulator, name="md-rec", MARKETDATA_RECORD_PATH=str(recording)
    )
    feed.until(lambda w: len(w.ticks()) >= 300, 30, "300 ticks")
    recorder.process.stop()
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    published = feed.ticks()
    # The file holds exactly what was published (the tail after our last poll, too).
    assert lines[: len(published)] == published
    before = {s: t["seq"] for s, t in last_ticks(redis_url).items()}
    span = (lines[-1]["ingest_ts"] - lines[0]["ingest_ts"]) / 1000
    assert span > 1.0

    started = time.time()
    replayer = start_marketdata(
        spawn, tmp_path, redis_url, None, name="md-replay", access_token=None,
        MARKETDATA_SOURCE="replay", MARKETDATA_REPLAY_PATH=str(recording),
        MARKETDATA_REPLAY_SPEED="4", MARKETDATA_REPLAY_LOOP="false",
    )  # fmt: skip
    assert replayer.wait_ready()["checks"]["role"] == "leader"

    def fresh() -> list[dict[str, object]]:  # not what the recorder published before
        return [t for t in feed.ticks() if t["ingest_ts"] >= started * 1000]

    replayed = feed.until(lambda w: fresh() if len(fresh()) >= len(lines) else None, 30, "the file")
    took = (
        max(t["ingest_ts"] for t in replayed) / 1000 - min(t["ingest_ts"] for t in replayed) / 1000
    )
    assert took >= span / 4 * 0.7, (took, span)  # paced, ×4
    assert took <= span / 4 + 2.0, (took, span)
    assert_seq_increasing(replayed, floor=before)  # fresh seq continuing from md:last
    # Same values, same order per symbol; only seq and ingest_ts are new.
    strip = [{k: v for k, v in t.items() if k not in ("seq", "ingest_ts")} for t in lines]
    again = [{k: v for k, v in t.items() if k not in ("seq", "ingest_ts")} for t in replayed]
    assert again == strip
    wait_for(lambda: replayer.get("/readyz").status_code == 503, 10, "down after the end")
    assert "replay finished" in replayer.get("/readyz").json()["reason"]
