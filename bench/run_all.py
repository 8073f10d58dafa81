"""Run every bench/bench_*.py (or those named on the command line) and summarise.

Each benchmark writes bench/results/<name>.json through bench/_results.py; this script
then writes bench/results/SUMMARY.md from all the JSON files present.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def summarise() -> str:
    lines = ["# Benchmark results", "", "Written by `make bench`; one run, this machine.", ""]
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text())
        lines += [
            f"## {doc['name']}",
            "",
            f"Run {doc['when']} on {doc['machine']['platform']} ({doc['machine']['cpus']} CPUs).",
            "",
            "| metric | value | unit |",
            "|---|---:|---|",
        ]
        for key, m in doc["metrics"].items():
            lines.append(f"| {key} | {m['value']:,.3f} | {m['unit']} |")
        if doc.get("notes"):
            lines += ["", doc["notes"]]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    wanted = set(sys.argv[1:])
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if wanted and script.stem.removeprefix("bench_") not in wanted:
            continue
        print(f"-- {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "SUMMARY.md").write_text(summarise())
    print(f"summary: {RESULTS / 'SUMMARY.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
