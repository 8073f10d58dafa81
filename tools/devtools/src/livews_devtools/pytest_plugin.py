"""Shared pytest fixtures: a private Redis, and the fleet's processes started for real.

Loaded by the repository's root ``conftest.py``. With ``REDIS_URL`` set, tests use that
server instead of starting one (each test still gets its own, flushed, database number —
point it at a Redis you can spare).

``LIVEWS_TEST_REDIS=cluster|sentinel`` makes the private Redis a local 3×2 Cluster or a
Sentinel-managed primary (``livews_devtools.redis_topology``); on a Cluster, which has only
database 0, every test shares it and ``redis_url`` flushes it first.

The private Redis runs with the fleet's ACL users (``livews_common.redis_acl``; default user
off): ``redis_url`` and ``redis_client`` are the admin's, for tests that poke Redis, while the
service harnesses (fleet_auth, fleet_gateway, fleet_marketdata) start each service as its own
least-privilege user (``livews_devtools.redis_server.role_url``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis.asyncio as aioredis

from livews_common import redisconn
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.redis_topology import RedisTopology, start_redis

_DB_NUMBERS = itertools.cycle(range(1, 16))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisTopology | None]:
    """The session's private Redis (of ``LIVEWS_TEST_REDIS``'s topology), or None when
    ``REDIS_URL`` names one to use."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    server = start_redis()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_base_url(redis_server: RedisTopology | None) -> str:
    return redis_server.url if redis_server else os.environ["REDIS_URL"]


def with_db(url: str, db: int) -> str:
    """``url`` on database ``db`` (a Cluster has database 0 only: unchanged there)."""
    target = redisconn.parse(url)
    parts = urlsplit(url)
    if target.kind == "cluster":
        return url
    if target.kind == "sentinel":
        return url[: len(url) - len(parts.path)] + f"/{parts.path.split('/')[1]}/{db}"
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def redis_url(redis_base_url: str) -> Iterator[str]:
    """A Redis URL on a database number of its own, empty at the start of the test."""
    url = with_db(redis_base_url, next(_DB_NUMBERS))
    client = redisconn.connect_sync(url)
    try:
        client.flushdb()  # on a Cluster: on every primary
        yield url
    finally:
        client.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio Redis client on the test's own database."""
    client = redisconn.connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


Spawn = Callable[..., ServiceProcess]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a process and wait until healthy: ``spawn(name, argv, env=..., health_url=...)``.

    Every process started through it is stopped (SIGTERM, then SIGKILL) when the test ends;
    its log is ``tmp_path/<name>.log``.
    """
    started: list[ServiceProcess] = []

    def _spawn(
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        health_url: str | None = None,
        timeout: float = 30.0,
    ) -> ServiceProcess:
        proc = ServiceProcess(
            name, argv, env=env, health_url=health_url, log_path=tmp_path / f"{name}.log",
            cwd=tmp_path,
        )  # fmt: skip
        started.append(proc)
        proc.start()
        proc.wait_healthy(timeout)
        return proc

    try:
        yield _spawn
    finally:
        for proc in reversed(started):
            proc.stop()


@dataclass(frozen=True)
class Emulator:
    """A running fyers-emulator and the URLs services are pointed at."""

    process: ServiceProcess
    port: int
    client_id: str
    secret_key: str
    pin: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def data_base(self) -> str:
        return f"{self.url}/data"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/hsm/v1-5/prod"

    def env(self) -> dict[str, str]:
        """The variables that point a service at this emulator."""
        return {
            "FYERS_API_BASE": self.api_base,
            "FYERS_DATA_BASE": self.data_base,
            "FYERS_DATA_WS_URL": self.ws_url,
            "FYERS_CLIENT_ID": self.client_id,
            "FYERS_SECRET_KEY": self.secret_key,
        }

    def admin(self, action: str, **params: object) -> None:
        """POST /admin/<action>?params (a fault control); raises on a non-2xx answer."""
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        httpx.post(f"{self.url}/admin/{action}", params=query, timeout=5.0).raise_for_status()


EMULATOR_CLIENT_ID = "DEVAPP0001-100"
EMULATOR_SECRET = "devsecret"
EMULATOR_PIN = "1234"


def start_emulator(spawn: Spawn, tmp_path: Path, **extra_env: str) -> Emulator:
    port = free_port()
    env = {
        "FYERS_CLIENT_ID": EMULATOR_CLIENT_ID,
        "FYERS_SECRET_KEY": EMULATOR_SECRET,
        "FYERS_PIN": EMULATOR_PIN,
        "LIVEWS_STATE_DIR": str(tmp_path / "emulator-state"),
        **extra_env,
    }
    proc = spawn(
        "fyers-emulator",
        [script("fyers-emulator"), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    return Emulator(proc, port, EMULATOR_CLIENT_ID, EMULATOR_SECRET, EMULATOR_PIN)


@pytest.fixture
def emulator(spawn: Spawn, tmp_path: Path) -> Emulator:
    """A fresh fyers-emulator process for this test (its faults cannot leak to others)."""
    return start_emulator(spawn, tmp_path)
