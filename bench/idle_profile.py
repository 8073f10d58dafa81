"""Where an idle authenticated connection's gateway memory goes (issue #17): tracemalloc.

Runs one livews-gateway in a child process under tracemalloc, opens N idle authenticated
connections to it (bench_gateway's raw clients, no subscriptions), and prints the top
allocation sites of what the connections added, per connection.

    uv run python bench/idle_profile.py [N]     # default 2,000
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(out: str) -> None:
    """The gateway's main(), with SIGUSR1 = baseline snapshot, SIGUSR2 = diff to ``out``."""
    tracemalloc.start(1)
    state: dict[str, tracemalloc.Snapshot] = {}

    def baseline(*_: object) -> None:
        state["base"] = tracemalloc.take_snapshot()

    def report(*_: object) -> None:
        snap = tracemalloc.take_snapshot()
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snap, base = snap.filter_traces(filters), state["base"].filter_traces(filters)
        lines = []
        for kind in ("lineno", "filename"):
            stats = snap.compare_to(base, kind)
            total = sum(s.size_diff for s in stats)
            lines.append(f"== by {kind}: total {total / 1024:.0f} KiB")
            lines += [f"{s.size_diff / 1024:10.1f} KiB {s.count_diff:8d}  {s.traceback}"
                      for s in stats[:30]]  # fmt: skip
        Path(out).write_text("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, baseline)
    signal.signal(signal.SIGUSR2, report)
    from livews_gateway.__main__ import main

    main(sys.argv[3:])


async def run(n: int) -> None:
    import bench_gateway as bg

    with tempfile.TemporaryDirectory(prefix="idle-profile-") as tmp:
        bench = bg.Bench(Path(tmp))
        out = Path(tmp) / "tracemalloc.txt"
        try:
            gw, port = bench_start(bench, bg, out)
            try:
                await asyncio.sleep(1.0)
                os.kill(gw.pid, signal.SIGUSR1)
                await asyncio.sleep(2.0)
                pool = [bg.WorkerProcess(port, n // 2, bench.token) for _ in range(2)]
                connected = 0
                for w in pool:
                    connected += (await asyncio.to_thread(w.read, 300))["ready"]
                await asyncio.sleep(2.0)
                os.kill(gw.pid, signal.SIGUSR2)
                for _ in range(3000):
                    if out.exists():
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                text = out.read_text()
                total = float(text.split("total ", 1)[1].split(" KiB", 1)[0])
                print(f"{connected} idle connections: {total / max(1, connected):.1f} KiB each "
                      "traced by tracemalloc")  # fmt: skip
                print(text)
                for w in pool:
                    w.close()
            finally:
                gw.stop()
        finally:
            bench.close()


def bench_start(bench: object, bg: object, out: Path) -> tuple[object, int]:
    from livews_devtools.ports import free_port
    from livews_devtools.processes import ServiceProcess

    port = free_port()
    proc = ServiceProcess(
        "gateway-idle-profile",
        [sys.executable, __file__, "--child", str(out), "--host", "127.0.0.1", "--port", str(port)],
        env={
            "REDIS_URL": bench.redis.url, "AUTH_JWKS_URL": bench.mint.url,  # type: ignore[attr-defined]
            "LIVEWS_LOG_LEVEL": "WARNING", "GATEWAY_MAX_CONNECTIONS": "20000",
            **bg.BENCH_ADMISSION,  # type: ignore[attr-defined]
        },
        health_url=f"http://127.0.0.1:{port}/healthz",
        log_path=bench.tmp / "gw.log",  # type: ignore[attr-defined]
    )  # fmt: skip
    proc.start()
    proc.wait_healthy(60, path_url=f"http://127.0.0.1:{port}/readyz")
    return proc, port


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
