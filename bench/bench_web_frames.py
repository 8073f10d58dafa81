"""The dashboard's frame-time benchmark (web/bench/frames.bench.mjs) under `make bench`.

It builds the app, drives it in headless Chromium with 200 symbols updating 10 times a
second, and writes bench/results/web_frames.json itself; this wrapper only runs it.

`--baseline REF` (or LIVEWS_BENCH_BASELINE_REF) first runs the same benchmark of another
commit's web/ (exported with `git archive` into a temporary directory, sharing this
checkout's node_modules) and then this one, so the two are measured in the same window of
a shared machine; its frame figures land in web_frames.json as baseline_*.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"


def run_baseline(npm: str, ref: str, workdir: Path) -> Path:
    """Build and bench `ref`'s web/ in `workdir`; returns the results file it wrote."""
    archive = subprocess.run(
        ["git", "archive", ref, "web"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    (workdir / "web" / "node_modules").symlink_to(WEB / "node_modules")
    subprocess.run([npm, "run", "--silent", "bench"], cwd=workdir / "web", check=True)
    return workdir / "bench" / "results" / "web_frames.json"


def main() -> int:
    parser = argparse.ArgumentParser(description="the dashboard frame-time benchmark")
    parser.add_argument(
        "--baseline",
        default=os.environ.get("LIVEWS_BENCH_BASELINE_REF"),
        help="a commit to bench just before",
    )
    args = parser.parse_args()
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the web frame-time benchmark needs Node 20")
        return 1
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="livews-web-baseline-") as tmp:
        if args.baseline:
            ref = subprocess.run(
                ["git", "rev-parse", "--short", args.baseline],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            print(f"== baseline: web/ of {ref.stdout.strip()}")
            env["LIVEWS_BENCH_BASELINE"] = str(run_baseline(npm, args.baseline, Path(tmp)))
            env["LIVEWS_BENCH_BASELINE_NAME"] = f"commit {ref.stdout.strip()}"
        return subprocess.run(
            [npm, "run", "--silent", "bench"], cwd=WEB, env=env, check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
