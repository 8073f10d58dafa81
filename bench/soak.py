"""Soak: the whole fleet at moderate load for a while; memory, descriptors and latency over time.

Flat is the goal. The fleet (livews_devtools.fleet) runs as local processes; load
generators (bench/load.py's worker) hold ``SOAK_CLIENTS`` clients through nginx, each
subscribed to the 52 default symbols, with the upstream at ``SOAK_TPS`` ticks/s, and every
``SOAK_CHURN_EVERY`` s ``SOAK_CHURN`` clients disconnect and new ones connect (sessions come
and go, as in production). Every ``SOAK_SAMPLE`` s it samples, per process (nginx with its
workers), the resident memory and open file descriptors (psutil), and the p50/p99 tick
latency of that window (``ingest_ts`` to receipt).

Writes bench/results/soak.json (first vs last sample per process, latency medians) and
bench/results/soak_series.json (every sample).

    SOAK_SECONDS=120 uv run python bench/soak.py     # make soak; the default is 120 s
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS_DIR, write_result
from load import Load, env_number

from livews_devtools.fleet import Fleet


def usage(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open fds) of a process and all its children (nginx workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0
    rss, fds = 0, 0
    for proc in procs:
        try:
            rss += proc.memory_info().rss
            fds += proc.num_fds()
        except psutil.Error:
            continue
    return rss / 2**20, fds


def sample(fleet: Fleet, load: Load, began: float) -> dict[str, Any]:
    window = load.window()
    procs = {name: usage(pid) for name, pid in sorted(fleet.pids().items())}
    return {
        "t": round(time.monotonic() - began, 1),
        "rss_mib": {name: round(rss, 1) for name, (rss, _) in procs.items()},
        "fds": {name: fds for name, (_, fds) in procs.items()},
        "p50_ms": window["p50_ms"],
        "p99_ms": window["p99_ms"],
        "ticks_per_s": round(window["ticks_per_s"]),
        "missed_pct": round(window["missed_pct"], 3),
        "clients": window["clients"],
        "closed": window["closed"],
    }


def main() -> None:
    seconds = env_number("SOAK_SECONDS", 120)
    clients = int(env_number("SOAK_CLIENTS", 100))
    tps = env_number("SOAK_TPS", 200)
    every = env_number("SOAK_SAMPLE", 5)
    churn, churn_every = int(env_number("SOAK_CHURN", 10)), env_number("SOAK_CHURN_EVERY", 10)
    series: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="livews-soak-") as tmp:
        # Access tokens outlive the run (gateways would cut sessions off at expiry).
        fleet = Fleet(Path(tmp) / "fleet", ticks_per_second=tps,
                      auth_env={"AUTH_ACCESS_TTL": str(int(seconds) + 900)})  # fmt: skip
        fleet.start()
        load = Load(fleet, fleet.login("XS00001"))
        try:
            load.grow_to(clients)
            time.sleep(every)  # warm-up: caches, pools and buffers reach their working size
            load.window()
            began = next_churn = time.monotonic()
            print(f"soak: {clients} clients, upstream {tps:.0f} ticks/s, {seconds:.0f} s",
                  flush=True)  # fmt: skip
            while time.monotonic() - began < seconds:
                time.sleep(every)
                if churn and time.monotonic() >= next_churn + churn_every:
                    load.churn(churn)
                    next_churn = time.monotonic()
                point = sample(fleet, load, began)
                series.append(point)
                rss, fds = sum(point["rss_mib"].values()), sum(point["fds"].values())
                print(
                    f"  t={point['t']:>6.0f}s rss {rss:7.1f} MiB  fds {fds:5d}  p50 "
                    f"{point['p50_ms']:6.1f} ms  p99 {point['p99_ms']:7.1f} ms  "
                    f"{point['ticks_per_s']:>7,} ticks/s",
                    flush=True,
                )
            fleet.assert_alive()
        finally:
            load.close()
            fleet.close()
    report(series, clients, tps, seconds, churn, churn_every)


def report(series: list[dict[str, Any]], clients: int, tps: float, seconds: float,
           churn: int, churn_every: float) -> None:  # fmt: skip
    first, last = series[0], series[-1]
    metrics: dict[str, tuple[float, str]] = {
        "latency_p50_median": (statistics.median(p["p50_ms"] for p in series), "ms"),
        "latency_p99_median": (statistics.median(p["p99_ms"] for p in series), "ms"),
        "latency_p99_worst": (max(p["p99_ms"] for p in series), "ms"),
        "delivered_median": (statistics.median(p["ticks_per_s"] for p in series), "ticks/s"),
        "conflated_max": (max(p["missed_pct"] for p in series), "%"),
    }
    for name in sorted(first["rss_mib"]):
        if name in last["rss_mib"]:
            metrics[f"rss_{name}_first"] = (first["rss_mib"][name], "MiB")
            metrics[f"rss_{name}_last"] = (last["rss_mib"][name], "MiB")
            metrics[f"fds_{name}_first"] = (first["fds"][name], "fds")
            metrics[f"fds_{name}_last"] = (last["fds"][name], "fds")
    notes = (
        f"{clients} clients through nginx (52 symbols each), upstream {tps:.0f} ticks/s, "
        f"{churn} clients replaced every {churn_every:.0f} s, {seconds:.0f} s after a warm-up; "
        f"{len(series)} samples (bench/results/soak_series.json). First/last are the first "
        f"and last samples; RSS of nginx includes its workers. One 2-core machine, loopback."
    )
    write_result("soak", metrics, notes)
    # Same envelope as the other results (bench/run_all.py summarises every JSON file).
    doc = json.loads((RESULTS_DIR / "soak.json").read_text())
    doc.update(name="soak_series", metrics={}, notes="Every sample of the soak run.",
               series=series)  # fmt: skip
    (RESULTS_DIR / "soak_series.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
