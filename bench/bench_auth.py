"""Auth: refresh-token rotations per second through a real livews-auth, and the cost of one
access-token verification in the shared verifier (``livews_common.jwks.KeySet``).

The rotation benchmark starts a private redis-server, the Fyers emulator and one auth
process (uvloop + httptools, rate limits off, WARNING logging), signs in ``SESSIONS`` users,
then has each session call ``POST /auth/token`` back to back — a refresh token can only be
used once, so each session is sequential and the concurrency is the number of sessions.
Each rotation is a Lua script in Redis, an ES256 signature and a cookie. The verification
benchmark is what every gateway does on connect and on ``auth:refresh``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import timeit
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import median, percentile, write_result

from livews_common.jwks import KeySet
from livews_devtools.fleet_auth import login
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.pytest_plugin import EMULATOR_CLIENT_ID, EMULATOR_PIN, EMULATOR_SECRET
from livews_devtools.redis_server import RedisServer

SESSIONS = 16
WARMUP_S = 1.0
DURATION_S = 5.0
VERIFY_ROUNDS = 5


def start(name: str, argv: list[str], env: dict[str, str], port: int, logs: Path) -> ServiceProcess:
    proc = ServiceProcess(
        name, argv, env=env, health_url=f"http://127.0.0.1:{port}/healthz",
        log_path=logs / f"{name}.log", cwd=logs,
    )  # fmt: skip
    proc.start()
    proc.wait_healthy(30)
    return proc


async def rotate_for(cookie: str, url: str, until: float, latencies: list[float]) -> int:
    count = 0
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        client.cookies.set("livews_refresh", cookie, path="/auth")
        while time.perf_counter() < until:
            started = time.perf_counter()
            response = await client.post("/auth/token")
            if response.status_code != 200:
                raise RuntimeError(f"rotation failed: {response.status_code} {response.text}")
            latencies.append(time.perf_counter() - started)
            count += 1
    return count


async def rotations(url: str, cookies: list[str]) -> tuple[float, list[float]]:
    # Warm up (connections, caches), then measure with fresh cookies carried over.
    latencies: list[float] = []
    until = time.perf_counter() + WARMUP_S
    await asyncio.gather(*(rotate_for(c, url, until, []) for c in cookies[:2]))
    until = time.perf_counter() + DURATION_S
    started = time.perf_counter()
    counts = await asyncio.gather(*(rotate_for(c, url, until, latencies) for c in cookies[2:]))
    return sum(counts) / (time.perf_counter() - started), latencies


def verify_cost(token: str, jwks: dict[str, object]) -> float:
    keys = KeySet.from_jwks(jwks)
    now = time.time()
    keys.verify(token, now=now)
    number = 2000
    runs = timeit.repeat(lambda: keys.verify(token, now=now), number=number, repeat=VERIFY_ROUNDS)
    return median([r / number for r in runs]) * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp, RedisServer() as redis:
        logs = Path(tmp)
        emu_port, auth_port = free_port(), free_port()
        fyers = {"FYERS_CLIENT_ID": EMULATOR_CLIENT_ID, "FYERS_SECRET_KEY": EMULATOR_SECRET}
        emulator = start(
            "fyers-emulator",
            [script("fyers-emulator"), "--port", str(emu_port)],
            {**fyers, "FYERS_PIN": EMULATOR_PIN, "LIVEWS_STATE_DIR": str(logs / "emu"),
             "EMULATOR_TICKS_PER_SECOND": "1", "EMULATOR_LOG_LEVEL": "warning"},
            emu_port, logs,
        )  # fmt: skip
        auth_env = {
            **fyers,
            "FYERS_API_BASE": f"http://127.0.0.1:{emu_port}/api/v3",
            "REDIS_URL": redis.url,
            "LIVEWS_STATE_DIR": str(logs / "auth"),
            "LIVEWS_LOG_LEVEL": "WARNING",
            "AUTH_RATE_LOGIN": "0",
            "AUTH_RATE_TOKEN": "0",
            "AUTH_FEED_PIN": EMULATOR_PIN,
        }
        auth = start("livews-auth", [script("livews-auth"), "--port", str(auth_port)],
                     auth_env, auth_port, logs)  # fmt: skip
        url = f"http://127.0.0.1:{auth_port}"
        try:
            cookies, token = [], ""
            for i in range(SESSIONS + 2):
                client, token = login(url, f"BENCH{i:03d}")
                cookies.append(client.cookies["livews_refresh"])
                client.close()
            rate, latencies = asyncio.run(rotations(url, cookies))
            jwks = httpx.get(f"{url}/auth/.well-known/jwks.json").json()
        finally:
            auth.stop()
            emulator.stop()
    verify_us = verify_cost(token, jwks)
    write_result(
        "auth",
        {
            "refresh_rotations_per_s": (rate, "rotations/s"),
            "refresh_latency_p50_ms": (median(latencies) * 1000, "ms"),
            "refresh_latency_p99_ms": (percentile(latencies, 99) * 1000, "ms"),
            "jwt_verify_es256_us": (verify_us, "µs"),
            "jwt_verifies_per_core_per_s": (1e6 / verify_us, "verifies/s"),
        },
        notes=(
            f"{SESSIONS} sessions rotating back to back for {DURATION_S:.0f} s against one auth "
            "process (one core of uvicorn, private Redis, client on the same 2-core machine); "
            "verify = KeySet.verify of a real ES256 access token (signature, alg, kid, iss, "
            "aud, exp, claims model)."
        ),
    )


if __name__ == "__main__":
    main()
