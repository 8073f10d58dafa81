"""docs/marketdata.md's redis-py example, run as written against a live ingestor."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from livews_devtools.fleet_marketdata import Marketdata

DOC = Path(__file__).resolve().parents[3] / "docs" / "marketdata.md"
DOC_URL = "redis://127.0.0.1:6379/0"


def _example() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- example: consume -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the example block is missing from docs/marketdata.md"
    return match.group(1)


def test_the_example_is_a_dozen_lines() -> None:
    code = [line for line in _example().splitlines() if line.strip()]
    assert len(code) <= 14, len(code)


def test_the_example_prints_fresh_ticks(
    marketdata: Marketdata, redis_url: str, tmp_path: Path
) -> None:
    marketdata.wait_ready()
    script = tmp_path / "consume.py"
    script.write_text(_example().replace(DOC_URL, redis_url))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[list[str]] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(lines) < 6 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.split())
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    assert len(lines) >= 6, err
    seen: dict[str, int] = {}
    for symbol, ltp, _change_pct, seq in lines:
        assert symbol in ("NSE:SBIN-EQ", "NSE:NIFTY50-INDEX") and float(ltp) > 0
        assert int(seq) > seen.get(symbol, 0)
        seen[symbol] = int(seq)
