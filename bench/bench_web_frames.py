"""The dashboard's frame-time benchmark (web/bench/frames.bench.mjs) under `make bench`.

It builds the app, drives it in headless Chromium with 200 symbols updating 10 times a
second, and writes bench/results/web_frames.json itself; this wrapper only runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"


def main() -> int:
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the web frame-time benchmark needs Node 20")
        return 1
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    return subprocess.run([npm, "run", "--silent", "bench"], cwd=WEB, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
