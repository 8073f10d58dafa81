"""Where an idle authenticated connection's gateway memory goes (issue #17): tracemalloc.

Runs one livews-gateway in a child process under tracemalloc, opens N idle authenticated
connections to it (bench_gateway's raw clients, no subscriptions), and prints the top
allocation sites of what the connections added, per connection.

    uv run python bench/idle_profile.py [N]            # default 2,000; by line, by file
    uv run python bench/idle_profile.py N --frames 12  # by call stack, 12 frames deep

With ``--frames`` tracing restarts at the baseline with that many frames per allocation
(slow, so not from the start) and each site is printed with the stack that made it: that is
how to tell who keeps an object (a coroutine frame, a parser generator, a dict) alive.
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


def child(out: str, frames: int) -> None:
    """The gateway's main(), with SIGUSR1 = baseline snapshot, SIGUSR2 = diff to ``out``."""
    tracemalloc.start(1)
    state: dict[str, tracemalloc.Snapshot] = {}

    def baseline(*_: object) -> None:
        if frames > 1:  # deeper from here on; the diff holds only what was allocated since
            tracemalloc.stop()
            tracemalloc.start(frames)
        state["base"] = tracemalloc.take_snapshot()

    def report(*_: object) -> None:
        snap = tracemalloc.take_snapshot()
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snap, base = snap.filter_traces(filters), state["base"].filter_traces(filters)
        lines = []
        for kind in ("traceback" if frames > 1 else "lineno", "filename"):
            stats = snap.compare_to(base, kind)
            total = sum(s.size_diff for s in stats)
            lines.append(f"== by {kind}: total {total / 1024:.0f} KiB")
            for s in stats[: 60 if frames > 1 else 30]:
                lines.append(f"{s.size_diff / 1024:10.1f} KiB {s.count_diff:8d}  {s.traceback}")
                if kind == "traceback":
                    lines += ["    " + line for line in s.traceback.format(most_recent_first=True)]
        Path(out).write_text("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, baseline)
    signal.signal(signal.SIGUSR2, report)
    from livews_gateway.__main__ import main

    main(sys.argv[4:])


async def run(n: int, frames: int) -> None:
    import bench_gateway as bg

    with tempfile.TemporaryDirectory(prefix="idle-profile-") as tmp:
        bench = bg.Bench(Path(tmp))
        out = Path(tmp) / "tracemalloc.txt"
        try:
            gw, port = bench_start(bench, bg, out, frames)
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


def bench_start(bench: object, bg: object, out: Path, frames: int) -> tuple[object, int]:
    from livews_devtools.ports import free_port
    from livews_devtools.processes import ServiceProcess

    port = free_port()
    proc = ServiceProcess(
        "gateway-idle-profile",
        [sys.executable, __file__, "--child", str(out), str(frames),
         "--host", "127.0.0.1", "--port", str(port)],
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
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        args = sys.argv[1:]
        depth = 1
        if "--frames" in args:
            at = args.index("--frames")
            depth = int(args[at + 1])
            del args[at : at + 2]
        asyncio.run(run(int(args[0]) if args else 2000, depth))
