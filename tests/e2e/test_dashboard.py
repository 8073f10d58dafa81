"""The dashboard in headless Chromium against the real fleet behind the repo's nginx.

Runs web/e2e/board.e2e.mjs (playwright-core driving Debian's Chromium): sign in through the
emulated Fyers login → the board fills → prices change → filter, sort, search, depth and
theme switch → the chart draws candles and a new bar rolls in (the ingestors cut bars every
``BAR_SECONDS``) → the ingestor's session clock passes the close and the header says "Market
closed" → the emulator stops trading and every row goes stale without a name
being truncated (laptop and phone) → the gateway serving the page is killed → within a second
a banner says so and the board dims; both clear by themselves on return. Screenshots of both
themes, the phone layout, the chart and the disconnected page land in the test's artifacts
directory (web/test-results/ by default; docs/img/ holds copies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from livews_devtools.fleet import Fleet

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = os.environ.get("LIVEWS_E2E_CHROMIUM", "/usr/bin/chromium")
# Test-only bar period (MARKETDATA_BAR_SECONDS), so the chart shows a new bar within seconds.
BAR_SECONDS = 5
MARKET_CLOCK_START = "2026-12-04T15:29:40+05:30"  # a Friday session, 20 s before its close


def _needs_build(dist: Path) -> bool:
    index = dist / "index.html"
    if not index.exists():
        return True
    built = index.stat().st_mtime
    sources = [WEB / "index.html", WEB / "vite.config.ts", WEB / "package-lock.json"]
    sources += [p for p in (WEB / "src").rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="module")
def web_dist() -> Path:
    npm = shutil.which("npm")
    assert npm, "npm is required for the dashboard tests"
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    dist = WEB / "dist"
    if _needs_build(dist):
        subprocess.run([npm, "run", "build", "--silent"], cwd=WEB, check=True)
    return dist


class _Killer(BaseHTTPRequestHandler):
    """POST / kills the gateway that holds the page's socket (the only connected one)."""

    fleet: Fleet
    killed: list[str]

    def do_POST(self) -> None:
        busy = [name for name, n in self.fleet.connections().items() if n > 0]
        if busy:
            self.fleet.kill(busy[0])
            self.killed.append(busy[0])
        self.send_response(200 if busy else 409)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        return


@pytest.fixture
def kill_url(tmp_path: Path) -> Iterator[tuple[str, list[str], type[_Killer]]]:
    handler = type("Killer", (_Killer,), {"killed": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", handler.killed, handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("encoding", ["compact", "json"])
def test_dashboard_end_to_end(
    web_dist: Path, tmp_path: Path, kill_url: tuple[str, list[str], type[_Killer]], encoding: str
) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run scripts/system-deps.sh"
    url, killed, handler = kill_url
    artifacts = Path(os.environ.get("LIVEWS_E2E_ARTIFACTS", WEB / "test-results"))
    with Fleet(
        tmp_path / "fleet", web_root=web_dist, ticks_per_second=200,
        marketdata_env={
            "MARKETDATA_BAR_SECONDS": str(BAR_SECONDS),
            # The NSE session, on a clock that reaches the 15:30 IST close 20 s after start:
            # the header must say "Market closed" from the gateway's status (CONTRACT §3).
            "MARKETDATA_MARKET_CALENDAR": "nse",
            "MARKETDATA_MARKET_CLOCK_START": MARKET_CLOCK_START,
        },
    ) as fleet:  # fmt: skip
        handler.fleet = fleet
        # The page runs under the edge's CSP (board.e2e.mjs fails on any violation it logs).
        csp = httpx.get(f"{fleet.url}/").headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        env = {
            **os.environ,
            "LIVEWS_E2E_URL": fleet.url,
            "LIVEWS_E2E_KILL_URL": url,
            "LIVEWS_E2E_FY_ID": "XA00001",
            "LIVEWS_E2E_CHROMIUM": CHROMIUM,
            "LIVEWS_E2E_ARTIFACTS": str(artifacts),
            # The dashboard asks for the compact encoding unless the page says json (CONTRACT §3).
            "LIVEWS_E2E_FORMAT": encoding,
            "LIVEWS_E2E_EMULATOR_URL": fleet.emulator.url,
            "LIVEWS_E2E_BAR_MS": str(BAR_SECONDS * 1000),
            "LIVEWS_E2E_MARKET_CLOSES": "1",
        }
        result = subprocess.run(
            ["node", "--test", "--test-concurrency=1", "e2e/board.e2e.mjs"],
            cwd=WEB, env=env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        report = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}\n{fleet.log_tails(10)}"
        assert result.returncode == 0, report
        assert len(killed) == 1, f"no gateway held the page's socket\n{report}"
    shots = ["board-dark.png", "board-light.png", "board-phone.png", "chart.png"]
    shots.append("disconnected.png")
    for shot in shots:
        assert (artifacts / shot).stat().st_size > 0, shot
