"""Gateway benchmark: one livews-gateway process, real clients over websockets, real Redis.

1. Load: 1,000 clients, each subscribed to the 52 default symbols; 500 ticks/s published
   the way the ingestor does (HSET md:last + PUBLISH md:tick:*). Reported: delivered ticks/s,
   frames/s, latency from ``ingest_ts`` to client receipt (p50/p99/max), gateway CPU and RSS
   per connection; and whether every client ends holding the latest value of every symbol.
2. Idle: RSS per authenticated connection with 10,000 connections open.
3. Fan-out primitives: CPU per frame of python-socketio's room ``emit`` (a task per
   recipient per call) against the gateway's direct write, in one server process.
4. Compression: permessage-deflate on and off, 200 clients at the same tick rate: gateway
   CPU and bytes on the wire.
5. Limits (``limits``, written to results/gateway_limits.json): the load stream with the
   admission and inbound limits at their defaults against them off, alternating in one
   run; ratio of medians of gateway CPU per frame (LIMITS_ROUNDS/CLIENTS/SECONDS shrink it).
6. Encoding (``encoding``, written to results/gateway_encoding.json): the load stream once
   with JSON Tick v1 clients and once with compact clients (``auth`` ``format: compact``):
   payload bytes per delivered tick and gateway CPU per delivered tick for each
   (ENCODING_CLIENTS/ENCODING_SECONDS shrink it).

The clients are ``RawSocketIOClient`` (livews_devtools.fleet_gateway): plain websocket +
Engine.IO/Socket.IO, decoding only symbol/seq/ingest_ts of each tick, several hundred per
load-generator process, so the client side is not what is measured. Bounded: ~3 minutes,
plus ~4 for the limits phase at its default size.

    uv run python bench/bench_gateway.py            # everything
    uv run python bench/bench_gateway.py load idle  # some phases
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psutil
from _results import write_result

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet_gateway import RawSocketIOClient, TokenMint, make_tick, parse_metrics
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.redis_server import RedisServer

SYMBOLS = list(DEFAULT_WATCHLIST)
HERE = Path(__file__).resolve()


# --- load-generator worker (a subprocess) ---------------------------------------------------


class TickHead(msgspec.Struct):
    symbol: str
    seq: int
    ingest_ts: int


class Snapshot(msgspec.Struct):
    ticks: list[TickHead] = []


_ticks = msgspec.json.Decoder(tuple[str, list[TickHead]])
_snapshot = msgspec.json.Decoder(tuple[str, Snapshot])
# Compact rows (docs/compact-encoding.md): symbol and seq are the first two items of each.
_rows = msgspec.json.Decoder(tuple[str, list[list[Any]]])
_compact_snapshot = msgspec.json.Decoder(tuple[str, dict[str, list[list[Any]]]])


class Worker:
    """Holds N clients, measures what they receive, answers the orchestrator on stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.clients: list[RawSocketIOClient] = []
        self.latest: dict[RawSocketIOClient, dict[str, int]] = {}
        self.measuring = False
        self.hist: Counter[int] = Counter()  # latency in ms → ticks
        self.ticks = 0
        self.frames = 0
        self.final: int | None = None
        self.complete: set[RawSocketIOClient] = set()
        self.all_complete = asyncio.Event()
        #: With --max-hz: receipt times (monotonic) per (client, symbol) while measuring.
        self.arrivals: dict[tuple[int, str], list[float]] = {}

    def on_compact(self, client: RawSocketIOClient, packet: bytes) -> None:
        """Compact rows: counts and seqs only (latency comes from the gateway's histogram)."""
        if packet.startswith(b'2["ticks"'):
            _, rows = _rows.decode(packet[1:])
            self.latest[client].update([(r[0], r[1]) for r in rows])
            if self.final is not None:
                self.check_complete(client)
            if self.measuring:
                self.frames += 1
                self.ticks += len(rows)
        elif packet.startswith(b'2["snapshot"'):
            _, snap = _compact_snapshot.decode(packet[1:])
            latest = self.latest[client]
            for row in snap.get("ticks", []):
                latest[row[0]] = max(latest.get(row[0], -1), row[1])

    def on_event(self, client: RawSocketIOClient, packet: bytes) -> None:
        if packet.startswith(b'2["ticks"'):
            _, ticks = _ticks.decode(packet[1:])
            # Comprehensions and Counter.update keep the per-tick work in C: this process
            # must keep up with hundreds of thousands of ticks a second.
            self.latest[client].update([(t.symbol, t.seq) for t in ticks])
            if self.final is not None:
                self.check_complete(client)
            if self.measuring:
                now = int(time.time() * 1000)  # ingest_ts is in whole milliseconds too
                self.frames += 1
                self.ticks += len(ticks)
                self.hist.update([now - t.ingest_ts for t in ticks])
                if self.args.max_hz:
                    at, key = time.monotonic(), id(client)
                    for t in ticks:
                        self.arrivals.setdefault((key, t.symbol), []).append(at)
        elif packet.startswith(b'2["snapshot"'):
            _, snap = _snapshot.decode(packet[1:])
            latest = self.latest[client]
            for tick in snap.ticks:
                latest[tick.symbol] = max(latest.get(tick.symbol, -1), tick.seq)

    async def connect_all(self) -> None:
        semaphore = asyncio.Semaphore(100)

        async def one() -> None:
            async with semaphore:
                if self.args.compact:
                    client: RawSocketIOClient = CompactClient(self.args.token, self.on_compact)
                else:
                    client = RawSocketIOClient(
                        self.args.token, self.on_event, compression=self.args.compression
                    )
                self.latest[client] = {}
                await client.connect("127.0.0.1", self.args.port, wait=60)
                if self.args.subscribe:
                    request: dict[str, Any] = {"symbols": SYMBOLS}
                    if self.args.max_hz:
                        request["max_hz"] = self.args.max_hz
                    ack = await client.call("subscribe", request, wait=60)
                    assert ack["ok"] and len(ack["subscribed"]) == len(SYMBOLS), ack
                self.clients.append(client)

        await asyncio.gather(*(one() for _ in range(self.args.clients)))

    async def run(self) -> None:
        await self.connect_all()
        say({"ready": len(self.clients)})
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        started = stopped = cpu0 = cpu1 = 0.0
        bytes0 = bytes1 = 0
        async for raw in reader:
            command = raw.decode().split()
            if command[0] == "measure":
                self.measuring, started, cpu0 = True, time.monotonic(), time.process_time()
                bytes0 = sum(c.bytes for c in self.clients)
            elif command[0] == "stop":
                self.measuring, stopped, cpu1 = False, time.monotonic(), time.process_time()
                bytes1 = sum(c.bytes for c in self.clients)
            elif command[0] == "final":
                complete = await self.wait_complete(int(command[1]))
                say({
                    "ticks": self.ticks, "frames": self.frames, "seconds": stopped - started,
                    "hist": dict(self.hist), "complete": complete,
                    "clients": len(self.clients), "cpu": cpu1 - cpu0,
                    "bytes": sum(c.bytes for c in self.clients),
                    "wire_bytes": sum(c.wire_bytes for c in self.clients),
                    "measured_bytes": bytes1 - bytes0,
                    **self.rate_report(),
                })  # fmt: skip
            elif command[0] == "exit":
                break
        for client in self.clients:
            client.close()

    def rate_report(self) -> dict[str, float]:
        """With --max-hz: most updates of one symbol to one client in any 1 s window, and the
        longest gap between two of them (ms)."""
        most, gap = 0, 0.0
        for times in self.arrivals.values():
            for i, t in enumerate(times):
                most = max(most, bisect.bisect_left(times, t + 1.0) - i)
                if i:
                    gap = max(gap, (t - times[i - 1]) * 1000)
        return {"max_window": most, "max_gap": gap}

    async def wait_complete(self, seq: int, deadline: float = 20.0) -> int:
        """Clients holding ``seq`` (or newer) for every symbol, once all do or at the deadline."""
        self.final = seq
        for client in self.clients:
            self.check_complete(client)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_complete.wait(), deadline)
        return len(self.complete)

    def check_complete(self, client: RawSocketIOClient) -> None:
        latest = self.latest[client]
        if (
            self.final is not None and client not in self.complete
            and len(latest) == len(SYMBOLS) and min(latest.values()) >= self.final
        ):  # fmt: skip
            self.complete.add(client)
            if len(self.complete) == len(self.clients):
                self.all_complete.set()


class CompactClient(RawSocketIOClient):
    """A raw client that asks for the compact encoding in its Socket.IO connect."""

    def _packet(self, payload: bytes) -> None:
        if payload[:1] == b"0":  # Engine.IO open: connect with the token and the format
            self._send(b"40" + json.dumps({"token": self.token, "format": "compact"}).encode())
            return
        super()._packet(payload)


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--subscribe", action="store_true")
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--compact", action="store_true")
    parser.add_argument("--max-hz", type=float, default=0.0)
    import uvloop

    uvloop.run(Worker(parser.parse_args(argv)).run())


# --- orchestrator -----------------------------------------------------------------------------


class WorkerProcess:
    def __init__(self, port: int, clients: int, token: str, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--worker", "--port", str(port), "--clients",
             str(clients), "--token", token, *flags],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        pin(self.proc.pid, OTHER_CPUS)

    def read(self, timeout: float = 120.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait(timeout)}")
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# The gateway gets a CPU of its own; the load generators, Redis and this process share the
# rest, so that the clients (on other machines in production) do not steal the gateway's.
CPUS = sorted(os.sched_getaffinity(0))
GATEWAY_CPUS = CPUS[:1] if len(CPUS) > 1 else CPUS
OTHER_CPUS = CPUS[1:] if len(CPUS) > 1 else CPUS


def pin(pid: int | None, cpus: list[int]) -> None:
    if pid is not None:
        psutil.Process(pid).cpu_affinity(cpus)


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        pin(os.getpid(), OTHER_CPUS)
        self.redis = RedisServer()
        self.redis.start()
        self.mint = TokenMint().start()
        self.token = self.mint.mint(ttl=3600)
        self.seq = 0

    def close(self) -> None:
        self.mint.close()
        self.redis.close()

    def start_gateway(self, name: str, **env: str) -> tuple[ServiceProcess, int]:
        port = free_port()
        proc = ServiceProcess(
            name,
            [script("livews-gateway"), "--host", "127.0.0.1", "--port", str(port)],
            env={
                "REDIS_URL": self.redis.url, "AUTH_JWKS_URL": self.mint.url,
                "LIVEWS_LOG_LEVEL": "WARNING", "GATEWAY_MAX_CONNECTIONS": "20000",
                "GATEWAY_SUBSCRIBE_RATE": "100", "GATEWAY_SUBSCRIBE_BURST": "100",
                "GATEWAY_VERDICT_WAIT": "0", "GATEWAY_DRAIN_SECONDS": "1",
                # Every bench client comes from 127.0.0.1 and they connect all at once: the
                # per-address limits and the pending cap stay on, sized for that.
                **BENCH_ADMISSION, **env,
            },
            health_url=f"http://127.0.0.1:{port}/healthz", log_path=self.tmp / f"{name}.log",
        )  # fmt: skip
        proc.start()
        proc.wait_healthy(30, path_url=f"http://127.0.0.1:{port}/readyz")
        pin(proc.pid, GATEWAY_CPUS)
        return proc, port

    async def seed(self, redis: Any) -> None:
        """The state a running ingestor leaves: verdicts and a latest value per symbol."""
        pipe = redis.pipeline(transaction=False)
        for symbol in SYMBOLS:
            verdict = {"symbol": symbol, "ok": True, "message": None, "ts": 1}
            pipe.hset("md:symbols", symbol, json.dumps(verdict))
            pipe.hset("md:last", symbol, json.dumps(make_tick(symbol, self.seq)))
        await pipe.execute()

    async def publish(self, redis: Any, rate: float, stop: asyncio.Event) -> int:
        """``rate`` ticks/s over every symbol in turn, in batches every 10 ms."""
        loop = asyncio.get_running_loop()
        per_batch = max(1, round(rate / 100))
        period = per_batch / rate
        next_at, index, sent = loop.time(), 0, 0
        while not stop.is_set():
            pipe = redis.pipeline(transaction=False)
            for _ in range(per_batch):
                symbol = SYMBOLS[index % len(SYMBOLS)]
                index += 1
                if index % len(SYMBOLS) == 0:
                    self.seq += 1
                data = json.dumps(make_tick(symbol, self.seq + 1, ltp=100.0 + index % 13))
                pipe.hset("md:last", symbol, data)
                pipe.publish(f"md:tick:{symbol}", data)
            await pipe.execute()
            sent += per_batch
            next_at += period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        return sent

    async def final_round(self, redis: Any) -> int:
        self.seq += 2
        pipe = redis.pipeline(transaction=False)
        for symbol in SYMBOLS:
            data = json.dumps(make_tick(symbol, self.seq))
            pipe.hset("md:last", symbol, data)
            pipe.publish(f"md:tick:{symbol}", data)
        await pipe.execute()
        return self.seq

    async def stream(
        self, port: int, gw: ServiceProcess, clients: int, workers: int, seconds: float,
        rate: float, *flags: str,
    ) -> dict[str, Any]:  # fmt: skip
        """Connect, warm up, measure for ``seconds``, then check every client is complete."""
        import redis.asyncio as aioredis

        redis = aioredis.Redis.from_url(self.redis.url)
        await self.seed(redis)
        gw_ps = psutil.Process(gw.pid)
        rss_empty = gw_ps.memory_info().rss
        pool = [
            WorkerProcess(port, clients // workers, self.token, "--subscribe", *flags)
            for _ in range(workers)
        ]
        try:
            connected = sum(w.read()["ready"] for w in pool)
            stop = asyncio.Event()
            publisher = asyncio.create_task(self.publish(redis, rate, stop))
            await asyncio.sleep(3.0)  # warm-up
            rss_loaded = gw_ps.memory_info().rss
            buckets0, flush0 = await fanout_buckets(port)
            cpu0, t0 = gw_ps.cpu_times(), time.monotonic()
            for w in pool:
                w.send("measure")
            await asyncio.sleep(seconds)
            for w in pool:
                w.send("stop")
            cpu1, t1 = gw_ps.cpu_times(), time.monotonic()
            buckets1, flush1 = await fanout_buckets(port)
            stop.set()
            await publisher
            final = await self.final_round(redis)
            for w in pool:
                w.send(f"final {final}")
            reports = [await asyncio.to_thread(w.read) for w in pool]
        finally:
            for w in pool:
                w.close()
            await redis.aclose()
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (t1 - t0)
        hist: Counter[int] = Counter()
        for report in reports:
            hist.update({int(ms): count for ms, count in report["hist"].items()})
        return {
            "connected": connected,
            "seconds": max(r["seconds"] for r in reports),
            "ticks": sum(r["ticks"] for r in reports),
            "frames": sum(r["frames"] for r in reports),
            "bytes": sum(r["bytes"] for r in reports),
            "wire_bytes": sum(r["wire_bytes"] for r in reports),
            "measured_bytes": sum(r["measured_bytes"] for r in reports),
            "max_window": max(r["max_window"] for r in reports),
            "max_gap": max(r["max_gap"] for r in reports),
            "complete": sum(r["complete"] for r in reports),
            "p50": percentile(hist, 50), "p99": percentile(hist, 99),
            "max": float(max(hist, default=0)),
            "cpu": cpu, "rss_per_conn": (rss_loaded - rss_empty) / max(1, connected),
            "client_cpu": sum(r["cpu"] for r in reports) / max(r["seconds"] for r in reports),
            "rss": rss_loaded,
            "flushes": flush1[0] - flush0[0],
            "flush_wall": flush1[1] - flush0[1],
            "flush_cpu": flush1[2] - flush0[2],
            "gw_p50": bucket_quantile(buckets0, buckets1, 0.50),
            "gw_p99": bucket_quantile(buckets0, buckets1, 0.99),
        }  # fmt: skip


async def fanout_buckets(port: int) -> tuple[dict[float, float], tuple[float, float, float]]:
    """The gateway's own latency histogram (ingest_ts → write), cumulative by bound, and its
    flush counters (passes, wall seconds, CPU seconds)."""
    async with httpx.AsyncClient() as http:
        samples = parse_metrics((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
    out: dict[float, float] = {}
    for key, value in samples.items():
        if key.startswith("livews_gateway_fanout_latency_seconds_bucket{"):
            bound = key.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = value
    flush = tuple(
        samples.get(f"livews_gateway_{name}_total", 0.0)
        for name in ("flushes", "flush_seconds", "flush_cpu_seconds")
    )
    return out, (flush[0], flush[1], flush[2])


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound (ms) of the bucket holding quantile ``q`` of what was observed in between."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0.0
    for bound, cumulative in counts:
        if total and cumulative >= q * total:
            return bound * 1000.0
    return float("nan")


def percentile(hist: Counter[int], pct: float) -> float:
    """Nearest-rank percentile (ms) of a latency histogram in whole milliseconds."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank, running = total * pct / 100.0, 0
    for ms in sorted(hist):
        running += hist[ms]
        if running >= rank:
            return float(ms)
    return float(max(hist))


async def phase_load(bench: Bench, out: dict[str, tuple[float, str]]) -> None:
    gw, port = bench.start_gateway("gateway-load")
    try:
        r = await bench.stream(port, gw, clients=1000, workers=2, seconds=20, rate=500)
        async with httpx.AsyncClient() as http:
            samples = parse_metrics((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
    finally:
        gw.stop()
    out["load_clients"] = (r["connected"], "clients")
    out["load_ticks_published"] = (500, "ticks/s")
    out["load_delivered_ticks"] = (r["ticks"] / r["seconds"], "ticks/s")
    out["load_frames"] = (r["frames"] / r["seconds"], "frames/s")
    out["load_ticks_per_frame"] = (r["ticks"] / max(1, r["frames"]), "ticks")
    out["load_latency_p50"] = (r["p50"], "ms")
    out["load_latency_p99"] = (r["p99"], "ms")
    out["load_latency_max"] = (r["max"], "ms")
    out["load_gateway_latency_p50"] = (r["gw_p50"], "ms (ingest_ts → write, bucket bound)")
    out["load_gateway_latency_p99"] = (r["gw_p99"], "ms (ingest_ts → write, bucket bound)")
    out["load_client_cpu"] = (r["client_cpu"] * 100, "% of a core (load generators)")
    flushes = max(1.0, r["flushes"])
    out["load_flush_wall"] = (r["flush_wall"] / flushes * 1000, "ms per flush (1,000 clients)")
    out["load_flush_cpu"] = (r["flush_cpu"] / flushes * 1000, "ms CPU per flush")
    out["load_cpu_per_frame"] = (r["cpu"] / max(1.0, r["frames"] / r["seconds"]) * 1e6, "µs")
    out["load_clients_complete"] = (r["complete"], "clients")
    out["load_gateway_cpu"] = (r["cpu"] * 100, "% of a core")
    out["load_gateway_rss"] = (r["rss"] / 2**20, "MiB")
    out["load_rss_per_connection"] = (r["rss_per_conn"] / 1024, "KiB")
    out["load_outgoing"] = (r["bytes"] / r["seconds"] / 2**20, "MiB/s")
    out["load_conflated_ticks"] = (samples.get("livews_gateway_conflated_ticks_total", 0), "ticks")


#: Admission sized for the bench's clients (one address, thousands of handshakes at once).
BENCH_ADMISSION = {
    "GATEWAY_MAX_PENDING": "20000",
    "GATEWAY_ADDRESS_MAX_CONNECTIONS": "100000",
    "GATEWAY_ADDRESS_HANDSHAKE_RATE": "100000",
    "GATEWAY_ADDRESS_HANDSHAKE_BURST": "100000",
    # Every bench client is the same user (one token): the per-user quotas out of the way.
    "GATEWAY_MAX_CONNECTIONS_PER_USER": "100000",
    "GATEWAY_MAX_SYMBOLS_PER_USER": "100000",
    "GATEWAY_PROBES_PER_MINUTE": "100000",
}
#: The inbound and per-address limits switched off (phase ``limits``' baseline).
LIMITS_OFF = {
    "GATEWAY_INBOUND_MESSAGE_RATE": "0",
    "GATEWAY_ADDRESS_MAX_CONNECTIONS": "0",
    "GATEWAY_ADDRESS_HANDSHAKE_RATE": "0",
}


async def phase_limits(bench: Bench, _out: dict[str, tuple[float, str]]) -> None:
    """What the admission and inbound limits cost the fan-out: the load phase's stream,
    alternating a gateway with the limits at their defaults and one with them off, in the
    same run; the ratio of medians (on / off) of gateway CPU per frame and of delivery.
    ``LIMITS_ROUNDS``, ``LIMITS_CLIENTS`` and ``LIMITS_SECONDS`` shrink it (default: 3 rounds
    of each, 1,000 clients, 15 s)."""
    rounds = int(os.environ.get("LIMITS_ROUNDS", "3"))
    clients = int(os.environ.get("LIMITS_CLIENTS", "1000"))
    seconds = float(os.environ.get("LIMITS_SECONDS", "15"))
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    cpu_tick: dict[str, list[float]] = {"on": [], "off": []}
    flush_cpu: dict[str, list[float]] = {"on": [], "off": []}
    ticks: dict[str, list[float]] = {"on": [], "off": []}
    p99: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(rounds):
        for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
            env = LIMITS_OFF if mode == "off" else {}
            gw, port = bench.start_gateway(f"gateway-limits-{mode}-{i}", **env)
            try:
                r = await bench.stream(port, gw, clients=clients, workers=2, seconds=seconds,
                                       rate=500)  # fmt: skip
            finally:
                gw.stop()
            frames = max(1.0, r["frames"] / r["seconds"])
            cpu[mode].append(r["cpu"] / frames * 1e6)
            cpu_tick[mode].append(r["cpu"] / max(1.0, r["ticks"] / r["seconds"]) * 1e6)
            flush_cpu[mode].append(r["flush_cpu"] / max(1.0, r["flushes"]) * 1e3)
            ticks[mode].append(r["ticks"] / r["seconds"])
            p99[mode].append(r["p99"])
            print(f"   limits {mode}: {cpu[mode][-1]:.2f} µs/frame, {cpu_tick[mode][-1]:.2f} "
                  f"µs/tick, {flush_cpu[mode][-1]:.2f} ms CPU/flush, {ticks[mode][-1]:.0f} "
                  f"ticks/s, p99 {r['p99']:.0f} ms", flush=True)  # fmt: skip

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    out: dict[str, tuple[float, str]] = {}
    out["limits_rounds"] = (rounds, f"rounds of each mode, {clients} clients, {seconds:g} s")
    out["limits_cpu_per_frame_on"] = (median(cpu["on"]), "µs (median, limits at defaults)")
    out["limits_cpu_per_frame_off"] = (median(cpu["off"]), "µs (median, limits off)")
    out["limits_cpu_ratio"] = (median(cpu["on"]) / median(cpu["off"]), "on/off (≤ 1.05 wanted)")
    out["limits_cpu_per_tick_ratio"] = (
        median(cpu_tick["on"]) / median(cpu_tick["off"]), "on/off, gateway CPU per delivered tick"
    )  # fmt: skip
    out["limits_flush_cpu_ratio"] = (
        median(flush_cpu["on"]) / median(flush_cpu["off"]), "on/off, CPU per fan-out flush"
    )  # fmt: skip
    out["limits_delivery_ratio"] = (
        median(ticks["on"]) / max(1.0, median(ticks["off"])), "on/off delivered ticks/s"
    )  # fmt: skip
    out["limits_p99_on"] = (median(p99["on"]), "ms (median of rounds)")
    out["limits_p99_off"] = (median(p99["off"]), "ms (median of rounds)")
    notes = (
        "Limits on: GATEWAY_INBOUND_* and the pending deadline at their defaults, per-address "
        "limits on but sized for one address (every bench client is 127.0.0.1). Limits off: "
        "GATEWAY_INBOUND_MESSAGE_RATE=0 and the per-address limits 0. Modes alternate "
        "(on/off, off/on, …) on a fresh gateway each; ratios are of medians within this run. "
        f"1-minute load average {os.getloadavg()[0]:.1f} at the end."
    )
    write_result("gateway_limits", out, notes)


async def phase_idle(bench: Bench, out: dict[str, tuple[float, str]]) -> None:
    gw, port = bench.start_gateway("gateway-idle")
    try:
        ps = psutil.Process(gw.pid)
        rss_empty = ps.memory_info().rss
        pool = [WorkerProcess(port, 2500, bench.token) for _ in range(4)]
        connected = 0
        for w in pool:
            connected += (await asyncio.to_thread(w.read))["ready"]
        await asyncio.sleep(2.0)
        rss_full = ps.memory_info().rss
        async with httpx.AsyncClient() as http:
            samples = parse_metrics((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
        for w in pool:
            w.close()
    finally:
        gw.stop()
    idle: dict[str, tuple[float, str]] = {
        "idle_connections": (samples.get("livews_gateway_connections", 0), "clients"),
        "idle_rss_per_connection": ((rss_full - rss_empty) / max(1, connected) / 1024, "KiB"),
        "idle_gateway_rss": (rss_full / 2**20, "MiB"),
    }
    notes = (
        f"{connected:,} idle authenticated websocket connections (raw clients in 4 "
        "subprocesses, no subscriptions) to one gateway; RSS per connection is the gateway's "
        "RSS growth from before the first connection to 2 s after the last, divided by the "
        "connections (target ≤ 24 KiB, issue #17). bench/idle_profile.py shows where it goes. "
        f"1-minute load average {os.getloadavg()[0]:.1f}."
    )
    write_result("gateway_idle", idle, notes)  # its own file: runnable without the load phase


# --- fan-out primitives: python-socketio's emit against the direct write ----------------------


def primitives_server(argv: list[str]) -> None:
    """A bare Socket.IO server whose ``go`` event pushes frames to every client one way."""
    import resource

    import socketio
    import uvicorn
    import uvloop

    from livews_gateway.frames import batch_frame
    from livews_gateway.transport.engine import GatewaySocketIO
    from livews_gateway.transport.wsprotocol import OUTLET_EXTENSION, protocol_class

    mode, port = argv[0], int(argv[1])
    cls = GatewaySocketIO if mode == "direct" else socketio.AsyncServer
    sio = cls(async_mode="asgi", transports=["websocket"], async_handlers=False)
    outlets: dict[str, Any] = {}
    ticks = [make_tick(symbol, 1) for symbol in SYMBOLS[:25]]
    encoded = [json.dumps(t).encode() for t in ticks]

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, "room")
        outlets[sid] = environ["asgi.scope"]["extensions"][OUTLET_EXTENSION]["outlet"]

    async def disconnect(sid: str, reason: Any = None) -> None:
        outlets.pop(sid, None)

    async def go(sid: str, data: dict[str, Any]) -> dict[str, float]:
        usage0, frames = resource.getrusage(resource.RUSAGE_SELF), 0
        for _ in range(data["rounds"]):
            if mode == "emit":
                await sio.emit("ticks", ticks, to="room")
            else:
                frame = batch_frame("ticks", encoded)
                for outlet in outlets.values():
                    outlet.write_text(frame)
            frames += len(outlets)
            await asyncio.sleep(data["period"])
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage1.ru_utime - usage0.ru_utime + usage1.ru_stime - usage0.ru_stime
        return {"cpu": cpu, "frames": frames}

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("go", go)
    config = uvicorn.Config(
        socketio.ASGIApp(sio), host="127.0.0.1", port=port, loop="uvloop", http="httptools",
        ws=protocol_class(buffer_bytes=1 << 20), ws_per_message_deflate=False,
        ws_ping_interval=None, log_level="warning",
    )  # fmt: skip
    uvloop.run(uvicorn.Server(config).serve())


async def measure_primitive(mode: str, clients: int, rounds: int) -> float:
    """CPU microseconds per delivered frame in the server, for ``mode`` emit or direct."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE), "--primitives-server", mode, str(port)
    )
    pin(server.pid, GATEWAY_CPUS)
    try:
        expected = rounds * clients
        received = [0]
        arrived = asyncio.Event()

        def count(_client: RawSocketIOClient, _packet: bytes) -> None:
            received[0] += 1
            if received[0] >= expected:
                arrived.set()

        conns = [RawSocketIOClient(None, count) for _ in range(clients)]
        for attempt in range(100):
            try:
                await conns[0].connect("127.0.0.1", port)
                break
            except OSError:  # not listening yet
                conns[0] = RawSocketIOClient(None, count)
                await asyncio.sleep(0.1 * (attempt < 99))
        for conn in conns[1:]:
            await conn.connect("127.0.0.1", port)
        result = await conns[0].call("go", {"rounds": rounds, "period": 0.05}, wait=120)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 30)
        for conn in conns:
            conn.close()
        return float(result["cpu"]) / max(1, int(result["frames"])) * 1e6
    finally:
        server.terminate()
        await server.wait()


async def phase_primitives(bench: Bench, out: dict[str, tuple[float, str]]) -> None:
    emit = await measure_primitive("emit", clients=300, rounds=100)
    direct = await measure_primitive("direct", clients=300, rounds=100)
    out["emit_cpu_per_frame"] = (emit, "µs (python-socketio room emit)")
    out["direct_cpu_per_frame"] = (direct, "µs (gateway direct write)")


async def phase_compression(bench: Bench, out: dict[str, tuple[float, str]]) -> None:
    for label, flag in (("plain", "false"), ("deflate", "true")):
        gw, port = bench.start_gateway(f"gateway-{label}", GATEWAY_COMPRESSION=flag)
        try:
            r = await bench.stream(port, gw, 200, 1, 10, 500, "--compression")
        finally:
            gw.stop()
        out[f"{label}_gateway_cpu_200_clients"] = (r["cpu"] * 100, "% of a core")
        out[f"{label}_wire"] = (r["wire_bytes"] / r["seconds"] / 2**20, "MiB/s")
        out[f"{label}_rss_per_connection"] = (r["rss_per_conn"] / 1024, "KiB")
        out[f"{label}_latency_p99"] = (r["p99"], "ms")


async def phase_encoding(bench: Bench, _out: dict[str, tuple[float, str]]) -> None:
    """JSON Tick v1 against compact at the load phase's stream (or smaller, see the env)."""
    clients = int(os.environ.get("ENCODING_CLIENTS", "1000"))
    seconds = float(os.environ.get("ENCODING_SECONDS", "15"))
    out: dict[str, tuple[float, str]] = {"encoding_clients": (clients, "clients")}
    for label, flags in (("json", ()), ("compact", ("--compact",))):
        gw, port = bench.start_gateway(f"gateway-{label}")
        try:
            r = await bench.stream(port, gw, clients, 2, seconds, 500, *flags)
        finally:
            gw.stop()
        ticks = max(1, r["ticks"])
        out[f"{label}_delivered_ticks"] = (r["ticks"] / r["seconds"], "ticks/s")
        out[f"{label}_bytes_per_tick"] = (r["measured_bytes"] / ticks, "bytes (Engine.IO payload)")
        out[f"{label}_cpu_per_tick"] = (r["cpu"] * r["seconds"] / ticks * 1e6, "µs gateway CPU")
        out[f"{label}_gateway_cpu"] = (r["cpu"] * 100, "% of a core")
        out[f"{label}_gateway_latency_p99"] = (r["gw_p99"], "ms (ingest_ts → write, bucket bound)")
        out[f"{label}_clients_complete"] = (r["complete"], "clients")
    # max_hz=4 on every symbol (CONTRACT §3 v1.1), JSON, fewer clients (each one is timed).
    gw, port = bench.start_gateway("gateway-max-hz")
    try:
        r = await bench.stream(port, gw, min(clients, 200), 2, seconds, 500, "--max-hz", "4")
    finally:
        gw.stop()
    out["maxhz_clients"] = (r["connected"], "clients (max_hz 4 on all 52 symbols)")
    out["maxhz_published_per_symbol"] = (500 / len(SYMBOLS), "updates/s per symbol published")
    out["maxhz_updates_per_symbol"] = (
        r["ticks"] / r["seconds"] / max(1, r["connected"]) / len(SYMBOLS),
        "updates/s received",
    )
    out["maxhz_most_in_1s"] = (r["max_window"], "most updates of a symbol in any 1 s (≤ 4)")
    out["maxhz_longest_gap"] = (r["max_gap"], "ms between two updates of a symbol")
    out["maxhz_latency_p99"] = (r["p99"], "ms ingest_ts → receipt of what was sent")
    out["compact_bytes_ratio"] = (
        out["json_bytes_per_tick"][0] / max(1e-9, out["compact_bytes_per_tick"][0]),
        "× fewer bytes per tick (target ≥ 4)",
    )
    out["compact_cpu_ratio"] = (
        out["compact_cpu_per_tick"][0] / max(1e-9, out["json_cpu_per_tick"][0]),
        "compact CPU per tick / JSON's (target ≤ 1)",
    )
    notes = (
        f"{clients} clients × {len(SYMBOLS)} symbols, 500 ticks/s published, {seconds:g} s "
        "measured per encoding, one gateway pinned to its own CPU; bytes are Engine.IO "
        "payload bytes received by the clients while measuring; CPU is the gateway process's "
        f"user+system time over the same window. 1-minute load average {os.getloadavg()[0]:.1f}."
    )
    write_result("gateway_encoding", out, notes)


PHASES = {
    "load": phase_load,
    "idle": phase_idle,
    "primitives": phase_primitives,
    "compression": phase_compression,
    "limits": phase_limits,
    "encoding": phase_encoding,
}


async def orchestrate(phases: list[str]) -> None:
    out: dict[str, tuple[float, str]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        bench = Bench(Path(tmp))
        try:
            for name in phases:
                print(f"-- {name}", flush=True)
                await PHASES[name](bench, out)
        finally:
            bench.close()
    notes = (
        "One gateway process (uvicorn, uvloop) on a 2-core machine shared with the load "
        "generators (raw websocket clients in subprocesses) and Redis. Latency is ingest_ts "
        "(publish time) to receipt in the client process, in whole ms. CPU is the gateway "
        "process's user+system time per wall second. RSS per connection is the gateway's RSS "
        "growth divided by the connections (52 subscriptions each). "
        f"1-minute load average {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} "
        "after (other work on the machine inflates latency; compare runs by it). The gateway "
        f"is pinned to CPU {GATEWAY_CPUS}, everything else to {OTHER_CPUS}; flush wall time well "
        "above flush CPU time means the gateway was waiting for its CPU."
    )
    if out:  # "idle", "limits" and "encoding" alone write only their own files
        write_result("gateway", out, notes)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--primitives-server":
        primitives_server(sys.argv[2:])
        return
    wanted = [a for a in sys.argv[1:] if a in PHASES] or list(PHASES)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(orchestrate(wanted))


if __name__ == "__main__":
    main()
