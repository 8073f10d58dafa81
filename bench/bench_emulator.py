"""How many tick updates per second one fyers-emulator process pushes to one data socket.

Starts the emulator as a subprocess on a free port, logs in over its OAuth endpoints, opens a
raw websocket (the ``websockets`` library, no SDK: the client must not be the bottleneck),
speaks just enough HSM (auth, full mode, subscribe every quote and index topic), sets a high
aggregate rate through ``/admin/rate`` and counts the entries of the type-6 data frames it
receives over a measured window. Target: at least 50,000 updates/s.

Run: ``uv run python bench/bench_emulator.py [--rate N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import write_result

from fyers_emulator.universe import INSTRUMENTS

CLIENT_ID = "DEVAPP0001-100"
SECRET = "devsecret"
TARGET = 50_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def field(fid: int, value: bytes) -> bytes:
    return bytes([fid]) + struct.pack(">H", len(value)) + value


def frame(kind: int, *fields: bytes) -> bytes:
    body = b"".join(fields)
    return struct.pack(">HBB", len(body) + 2, kind, len(fields)) + body


def login(base: str) -> str:
    query = {"client_id": CLIENT_ID, "redirect_uri": "http://127.0.0.1:9/cb",
             "response_type": "code", "state": "bench", "fy_id": "XA00001"}  # fmt: skip
    r = httpx.get(f"{base}/api/v3/generate-authcode", params=query, timeout=10)
    code = parse_qs(urlsplit(r.headers["location"]).query)["auth_code"][0]
    app_hash = hashlib.sha256(f"{CLIENT_ID}:{SECRET}".encode()).hexdigest()
    body = {"grant_type": "authorization_code", "appIdHash": app_hash, "code": code}
    token: str = httpx.post(f"{base}/api/v3/validate-authcode", json=body, timeout=10).json()[
        "access_token"
    ]
    return token


def hsm_key(token: str) -> str:
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))
    key: str = payload["hsm_key"]
    return key


async def measure(
    base: str, ws_url: str, rate: float, seconds: float, proc: psutil.Process
) -> dict[str, float]:
    key = hsm_key(login(base))
    topics = [inst.quote_topic.encode() for inst in INSTRUMENTS]
    topic_list = struct.pack(">H", len(topics)) + b"".join(bytes([len(t)]) + t for t in topics)
    counts = {"updates": 0, "frames": 0, "bytes": 0}
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(frame(1, field(1, key.encode()), field(2, b"P"), field(3, b"\x01"),
                            field(4, b"bench")))  # fmt: skip
        await ws.send(frame(12, field(1, struct.pack(">Q", 1 << 11)), field(2, bytes([70]))))
        await ws.send(frame(4, field(1, topic_list), field(2, bytes([11]))))
        async with httpx.AsyncClient(base_url=base) as http:
            (await http.post("/admin/rate", params={"ticks_per_second": rate})).raise_for_status()

        async def count() -> None:
            async for message in ws:
                if isinstance(message, bytes) and len(message) >= 9 and message[2] == 6:
                    counts["updates"] += struct.unpack_from(">H", message, 7)[0]
                    counts["frames"] += 1
                    counts["bytes"] += len(message)

        reader = asyncio.create_task(count())
        await asyncio.sleep(1.5)  # warm-up: snapshots, rate ramp
        start = dict(counts)
        cpu0, t0 = proc.cpu_times(), time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        cpu1 = proc.cpu_times()
        end = dict(counts)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
    return {
        "updates_per_s": (end["updates"] - start["updates"]) / elapsed,
        "frames_per_s": (end["frames"] - start["frames"]) / elapsed,
        "mb_per_s": (end["bytes"] - start["bytes"]) / elapsed / 1e6,
        "emulator_cpu": cpu * 100,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=80_000, help="aggregate ticks/s to ask for")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    args = parser.parse_args()
    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/hsm/v1-5/prod"
    exe = Path(sys.executable).parent / "fyers-emulator"
    env = {**os.environ, "FYERS_CLIENT_ID": CLIENT_ID, "FYERS_SECRET_KEY": SECRET,
           "EMULATOR_LOG_LEVEL": "warning"}  # fmt: skip
    emulator = subprocess.Popen([str(exe), "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or emulator.poll() is not None:
                print("emulator did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        result = asyncio.run(measure(base, ws_url, args.rate, args.seconds,
                                     psutil.Process(emulator.pid)))  # fmt: skip
    finally:
        emulator.terminate()
        try:
            emulator.wait(10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()
    write_result(
        "emulator",
        {
            "updates_per_second": (result["updates_per_s"], "updates/s"),
            "frames_per_second": (result["frames_per_s"], "frames/s"),
            "throughput": (result["mb_per_s"], "MB/s"),
            "emulator_cpu": (result["emulator_cpu"], "% of one core"),
            "requested_rate": (args.rate, "ticks/s"),
        },
        notes=(
            f"One socket subscribed to all {len(INSTRUMENTS)} quote/index topics in full mode, "
            f"{args.seconds:g} s window after 1.5 s warm-up; target >= {TARGET:,} updates/s."
        ),
    )
    return 0 if result["updates_per_s"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
