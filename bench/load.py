"""Load: how many clients and ticks/s three gateways behind nginx carry with p99 ≤ 100 ms.

The whole fleet runs as local processes (livews_devtools.fleet: private Redis, the Fyers
emulator as the tick source, auth, two ingestors, three gateways, nginx). Load-generator
processes hold ``RawSocketIOClient`` connections through nginx, each subscribed to the
52-symbol default watchlist, and histogram every tick's latency from ``ingest_ts`` (when the
ingestor received it from the upstream) to receipt: the whole path ingestor → Redis →
gateway → nginx → client.

Steps, each with a warm-up and a measured window:

1. the upstream at ``LOAD_BASE_TPS`` (aggregate ticks/s from the emulator), clients doubling
   from ``LOAD_START_CLIENTS`` until a step fails or ``LOAD_MAX_CLIENTS``;
2. with ``LOAD_TPS_PHASE_CLIENTS`` (100) clients, the upstream rate doubling until a step
   fails or ``LOAD_MAX_TPS``;

each phase then bisects twice between its last pass and its first failure.

A step passes with p99 ≤ ``LOAD_P99_MS`` (100), no client disconnected and under 1% of ticks
conflated away (seq gaps). Reported: the last passing step of each phase. Everything is on
loopback and shares this machine's cores (load generators included); bounded to about
``LOAD_MAX_SECONDS`` (300).

    uv run python bench/load.py              # make load

``python bench/load.py --worker …`` is the load generator (also used by bench/soak.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_result

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet
from livews_devtools.fleet_gateway import RawSocketIOClient

HERE = Path(__file__).resolve()
SYMBOLS = list(DEFAULT_WATCHLIST)
BUCKET_MS = 0.5
MAX_BUCKET = 20_000  # 10 s
PER_WORKER = 400


def env_number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# --- the load generator (a subprocess) -------------------------------------------------------


class TickHead(msgspec.Struct):
    symbol: str
    seq: int
    ingest_ts: int


class Snapshot(msgspec.Struct):
    ticks: list[TickHead] = []


_ticks = msgspec.json.Decoder(tuple[str, list[TickHead]])
_snapshot = msgspec.json.Decoder(tuple[str, Snapshot])


class Worker:
    """Holds clients through nginx; answers commands on stdin with one JSON line each.

    ``add N`` connects and subscribes N more; ``drop N`` closes N; ``churn N`` closes N and
    opens N new ones;
    ``window`` reports what arrived since the previous window (latency histogram, ticks,
    seq gaps, closed clients) and starts a new one; ``exit`` ends it.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.clients: list[RawSocketIOClient] = []
        self.held: dict[RawSocketIOClient, dict[str, int]] = {}
        self.closed = 0
        self._reset()

    def _reset(self) -> None:
        self.hist: Counter[int] = Counter()
        self.ticks = self.frames = self.missed = 0
        self.max_ms = 0.0
        self.since, self.cpu0 = time.monotonic(), time.process_time()

    def on_event(self, client: RawSocketIOClient, packet: bytes) -> None:
        held = self.held[client]
        if packet.startswith(b'2["ticks"'):
            _, ticks = _ticks.decode(packet[1:])
            now = time.time() * 1000.0
            self.frames += 1
            self.ticks += len(ticks)
            for tick in ticks:
                ms = now - tick.ingest_ts
                self.hist[min(MAX_BUCKET, max(0, int(ms / BUCKET_MS)))] += 1
                self.max_ms = max(self.max_ms, ms)
                last = held.get(tick.symbol)
                if last is not None and tick.seq > last + 1:
                    self.missed += tick.seq - last - 1
                held[tick.symbol] = tick.seq
        elif packet.startswith(b'2["snapshot"'):
            _, snap = _snapshot.decode(packet[1:])
            for tick in snap.ticks:
                held[tick.symbol] = max(held.get(tick.symbol, -1), tick.seq)

    async def add(self, n: int) -> int:
        semaphore = asyncio.Semaphore(50)
        failed = 0

        async def one() -> None:
            nonlocal failed
            async with semaphore:
                client = RawSocketIOClient(self.token, self.on_event)
                self.held[client] = {}
                try:
                    await client.connect("127.0.0.1", self.port, wait=60)
                    ack = await client.call("subscribe", {"symbols": SYMBOLS}, wait=60)
                    assert ack["ok"], ack
                except (OSError, ConnectionError, TimeoutError, AssertionError):
                    failed += 1
                    client.close()
                    return
                client.closed.add_done_callback(self._on_closed)
                self.clients.append(client)

        await asyncio.gather(*(one() for _ in range(n)))
        return failed

    def _on_closed(self, _future: asyncio.Future[None]) -> None:
        self.closed += 1

    def drop(self, n: int) -> None:
        for client in self.clients[:n]:
            client.closed.remove_done_callback(self._on_closed)
            client.close()
            self.held.pop(client, None)
        del self.clients[:n]

    async def churn(self, n: int) -> int:
        self.drop(n)
        return await self.add(n)

    def window(self) -> dict[str, Any]:
        report = {
            "seconds": time.monotonic() - self.since, "cpu": time.process_time() - self.cpu0,
            "ticks": self.ticks, "frames": self.frames, "missed": self.missed,
            "max_ms": self.max_ms, "hist": dict(self.hist), "clients": len(self.clients),
            "closed": self.closed,
        }  # fmt: skip
        self._reset()
        return report

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        say({"ready": True})
        async for raw in reader:
            command = raw.decode().split()
            if not command:
                continue
            if command[0] == "add":
                say({"failed": await self.add(int(command[1])), "clients": len(self.clients)})
            elif command[0] == "drop":
                self.drop(int(command[1]))
                say({"clients": len(self.clients)})
            elif command[0] == "churn":
                say({"failed": await self.churn(int(command[1])), "clients": len(self.clients)})
            elif command[0] == "window":
                say(self.window())
            elif command[0] == "exit":
                break
        for client in self.clients:
            client.close()


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(Worker(args.port, args.token).run())


# --- the orchestrator side ------------------------------------------------------------------


class WorkerProcess:
    """One load-generator subprocess and its line protocol."""

    def __init__(self, port: int, token: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--worker", "--port", str(port), "--token", token],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.clients = 0
        self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited with {self.proc.wait(10)}")
        message: dict[str, Any] = json.loads(line)
        return message

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.read()
        self.clients = int(answer.get("clients", self.clients))
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("exit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class Load:
    """Load generators against a fleet: grow to N clients, read merged windows."""

    def __init__(self, fleet: Fleet, token: str) -> None:
        self.fleet, self.token = fleet, token
        self.workers: list[WorkerProcess] = []
        self.failed = 0

    @property
    def clients(self) -> int:
        return sum(w.clients for w in self.workers)

    def resize(self, n: int) -> None:
        """Exactly ``n`` clients: drop the surplus, or connect more."""
        for worker in reversed(self.workers):
            surplus = self.clients - n
            if surplus <= 0:
                break
            worker.ask(f"drop {min(surplus, worker.clients)}")
        self.grow_to(n)

    def grow_to(self, n: int) -> None:
        while self.clients < n:
            room = [w for w in self.workers if w.clients < PER_WORKER]
            worker = room[0] if room else None
            if worker is None:
                worker = WorkerProcess(self.fleet.nginx.port, self.token)
                self.workers.append(worker)
            want = min(n - self.clients, PER_WORKER - worker.clients)
            self.failed += int(worker.ask(f"add {want}")["failed"])
            if self.failed > n:
                raise RuntimeError(f"{self.failed} clients failed to connect")

    def churn(self, n: int) -> None:
        for worker in self.workers:
            self.failed += int(worker.ask(f"churn {min(n, worker.clients)}")["failed"])

    def window(self) -> dict[str, Any]:
        """Every worker's window merged: counts summed, percentiles over all ticks."""
        parts = [w.ask("window") for w in self.workers]
        hist: Counter[int] = Counter()
        for part in parts:
            hist.update({int(k): v for k, v in part["hist"].items()})
        ticks = sum(p["ticks"] for p in parts)
        missed = sum(p["missed"] for p in parts)
        seconds = max((p["seconds"] for p in parts), default=0.0)
        return {
            "clients": sum(p["clients"] for p in parts),
            "seconds": seconds,
            "ticks": ticks,
            "ticks_per_s": ticks / seconds if seconds else 0.0,
            "frames": sum(p["frames"] for p in parts),
            "missed_pct": 100.0 * missed / (ticks + missed) if ticks + missed else 0.0,
            "p50_ms": quantile(hist, 0.50),
            "p99_ms": quantile(hist, 0.99),
            "max_ms": max((p["max_ms"] for p in parts), default=0.0),
            "closed": sum(p["closed"] for p in parts),
            "generator_cpu_pct": 100.0 * sum(p["cpu"] for p in parts) / seconds if seconds else 0,
        }

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def quantile(hist: Counter[int], q: float) -> float:
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank, seen = q * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return (bucket + 1) * BUCKET_MS
    return MAX_BUCKET * BUCKET_MS


def step(load: Load, fleet: Fleet, clients: int, tps: float, warmup: float, measure: float,
         p99_bound: float) -> dict[str, Any]:  # fmt: skip
    fleet.admin("rate", ticks_per_second=tps)
    closed_before = sum(w.ask("window")["closed"] for w in load.workers) if load.workers else 0
    load.resize(clients)
    time.sleep(warmup)
    load.window()  # discard the warm-up
    time.sleep(measure)
    got = load.window()
    got["tps"] = tps
    got["closed"] -= closed_before
    got["pass"] = bool(
        got["ticks"] > 0 and got["p99_ms"] <= p99_bound and got["closed"] == 0
        and got["missed_pct"] < 1.0
    )  # fmt: skip
    print(
        f"  {got['clients']:>5} clients  upstream {tps:>6.0f}/s  delivered "
        f"{got['ticks_per_s']:>9,.0f} ticks/s  p50 {got['p50_ms']:6.1f} ms  p99 "
        f"{got['p99_ms']:7.1f} ms  conflated {got['missed_pct']:5.2f}%  closed {got['closed']}"
        f"  {'pass' if got['pass'] else 'FAIL'}",
        flush=True,
    )
    return got


def climb(run: Callable[[int], dict[str, Any]], start: int, limit: int, budget_end: float,
          refine: int = 2) -> dict[str, Any] | None:  # fmt: skip
    """Double ``x`` from ``start`` while ``run(x)`` passes, then bisect ``refine`` times
    between the last pass and the first failure; the best passing step (or None)."""
    best: dict[str, Any] | None = None
    x, failed_at = start, None
    while x <= limit and time.monotonic() < budget_end:
        got = run(x)
        if not got["pass"]:
            failed_at = x
            break
        best, x = got, x * 2
    low = x // 2 if best is not None else 0
    for _ in range(refine):
        if failed_at is None or best is None or time.monotonic() >= budget_end:
            break
        mid = (low + failed_at) // 2
        if mid in (low, failed_at):
            break
        got = run(mid)
        if got["pass"]:
            best, low = got, mid
        else:
            failed_at = mid
    return best


def main() -> None:
    base_tps = env_number("LOAD_BASE_TPS", 200)
    start_clients = int(env_number("LOAD_START_CLIENTS", 100))
    max_clients = int(env_number("LOAD_MAX_CLIENTS", 3200))
    tps_clients = int(env_number("LOAD_TPS_PHASE_CLIENTS", 100))
    max_tps = int(env_number("LOAD_MAX_TPS", 6400))
    p99_bound = env_number("LOAD_P99_MS", 100)
    warmup, measure = env_number("LOAD_WARMUP_S", 3), env_number("LOAD_MEASURE_S", 6)
    began = time.monotonic()
    budget_end = began + env_number("LOAD_MAX_SECONDS", 300)
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="livews-load-") as tmp:
        fleet = Fleet(Path(tmp) / "fleet", ticks_per_second=base_tps)
        fleet.start()
        load = Load(fleet, fleet.login("XL00001"))

        def at(clients: int, tps: float) -> dict[str, Any]:
            got = step(load, fleet, clients, tps, warmup, measure, p99_bound)
            steps.append(got)
            return got

        try:
            print(f"fleet up in {fleet.startup_seconds:.1f}s; phase 1: clients up at "
                  f"{base_tps:.0f} upstream ticks/s", flush=True)  # fmt: skip
            best_clients = climb(lambda n: at(n, base_tps), start_clients, max_clients,
                                 budget_end)  # fmt: skip
            print(f"phase 2: upstream ticks/s up with {tps_clients} clients", flush=True)
            best_tps = climb(lambda t: at(tps_clients, t), int(base_tps) * 2, max_tps,
                             budget_end)  # fmt: skip
            fleet.assert_alive()
        finally:
            load.close()
            fleet.close()
    report(steps, best_clients, best_tps, base_tps, tps_clients, p99_bound,
           time.monotonic() - began)  # fmt: skip


def report(steps: list[dict[str, Any]], best_clients: dict[str, Any] | None,
           best_tps: dict[str, Any] | None, base_tps: float, tps_clients: int,
           p99_bound: float, took: float) -> None:  # fmt: skip
    metrics: dict[str, tuple[float, str]] = {}
    for label, best in (("clients_phase", best_clients), ("tps_phase", best_tps)):
        if best is None:
            continue
        metrics |= {
            f"{label}_clients": (best["clients"], "clients"),
            f"{label}_upstream_tps": (best["tps"], "ticks/s"),
            f"{label}_delivered": (best["ticks_per_s"], "ticks/s"),
            f"{label}_p50": (best["p50_ms"], "ms"),
            f"{label}_p99": (best["p99_ms"], "ms"),
        }
    table = "; ".join(
        f"{s['clients']}c@{s['tps']:.0f}/s p99 {s['p99_ms']:.0f}ms "
        f"{s['missed_pct']:.1f}% conflated {'pass' if s['pass'] else 'FAIL'}"
        for s in steps
    )
    notes = (
        f"Whole fleet (3 gateways behind nginx, 2 ingestors, emulator upstream) and the load "
        f"generators on one 2-core machine, loopback. Each client subscribes to the 52 "
        f"default symbols; latency is ingest_ts to receipt. A step passes with p99 <= "
        f"{p99_bound:.0f} ms, no disconnect, < 1% conflated. Phase 1 holds the upstream at "
        f"{base_tps:.0f} ticks/s and doubles clients; phase 2 doubles the upstream rate with "
        f"{tps_clients} clients; each phase then bisects twice between its last pass and its "
        f"first failure. Steps: {table}. Took {took:.0f} s."
    )
    write_result("load", metrics, notes)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main(sys.argv[2:])
    else:
        main()
