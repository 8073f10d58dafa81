"""How every benchmark reports: print the numbers, then write bench/results/<name>.json.

`bench/run_all.py` runs each `bench/bench_*.py` and folds the JSON files into
`bench/results/SUMMARY.md`. Quote medians and ratios from one run: the machine is shared.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0 < pct <= 100); NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_result(name: str, metrics: dict[str, tuple[float, str]], notes: str = "") -> Path:
    """Print ``metrics`` ({key: (value, unit)}) and write them to ``results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "name": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "metrics": {k: {"value": v, "unit": u} for k, (v, u) in metrics.items()},
        "notes": notes,
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    width = max((len(k) for k in metrics), default=0)
    print(f"== {name}")
    for key, (value, unit) in metrics.items():
        print(f"  {key:<{width}}  {value:>14,.3f} {unit}")
    if notes:
        print(f"  note: {notes}")
    return path
