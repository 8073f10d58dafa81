"""The whole fleet as real local processes, for end-to-end tests and the soak/load benchmarks.

A :class:`Fleet` starts, on free loopback ports: a private redis-server, the Fyers emulator,
livews-auth, two ingestors (leader + standby), three gateways and the repository's nginx in
front of them (optionally serving a built web app at ``/``). The feed token flows the real
way: :meth:`Fleet.start` signs the feed account in through nginx, auth (the feed-token
custodian in dev: the first user to sign in) seals it into Redis, the ingestors pick it up.

For tests (the fixtures come from the root conftest.py)::

    async def test_x(fleet: Fleet) -> None:
        client = await fleet.client(["NSE:SBIN-EQ"])       # a started RecordingClient
        fleet.kill("md1")                                  # any part, by name
        await fleet.restart("md1")
        await fleet.quiesce()                              # ticks stop; md:last settles
        await fleet.assert_clients_match_md_last([client])
        fleet.assert_alive()                               # nothing exited on its own

Part names: ``redis``, ``emulator``, ``auth``, ``md1``…, ``gw1``…, ``nginx``. Everything
that waits is ``async`` (it polls with a deadline and never blocks the event loop, so
recording clients keep reading meanwhile); :meth:`Fleet.start` and :meth:`Fleet.close` are
plain calls made outside any event loop (fixtures, or before ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import redis
import socketio
from cryptography.fernet import Fernet

from livews_common import names, redisconn
from livews_devtools.fleet_auth import AuthService, login, login_async, refresh_async, start_auth
from livews_devtools.fleet_gateway import GatewayProcess, Nginx, start_gateway, start_nginx
from livews_devtools.fleet_marketdata import FEED_ACCOUNT, Marketdata, start_marketdata
from livews_devtools.processes import ProcessFailed, ServiceProcess
from livews_devtools.pytest_plugin import Emulator, start_emulator
from livews_devtools.recorder import RecordingClient
from livews_devtools.redis_topology import RedisTopology, make_redis

#: Environment the ingestors run with here: fast fault detection and reconnects.
MARKETDATA_ENV = {
    "MARKETDATA_STALL_SECONDS": "3",
    "MARKETDATA_BACKOFF_BASE_MS": "100",
    "MARKETDATA_BACKOFF_MAX_MS": "2000",
    "MARKETDATA_SDK_LOG_DIR": "off",
}
#: Environment the gateways run with here, over fleet_gateway.gateway_env's test defaults:
#: the production verdict wait, so that an unknown symbol is refused (invalid_symbol) even
#: when the ingestor's upstream lookup is slow on a busy machine.
GATEWAY_ENV = {"GATEWAY_VERDICT_WAIT": "2"}
#: Aggregate upstream ticks per second while the fleet runs (the emulator's default is 200;
#: tests on a shared 2-core machine need less).
DEFAULT_TICKS_PER_SECOND = 100.0
_PART_NAMES = {"fyers-emulator": "emulator"}


class Fleet:
    """The fleet's processes, the parts' handles, and the checks the e2e tests end with."""

    def __init__(
        self,
        workdir: Path,
        *,
        gateways: int = 3,
        ingestors: int = 2,
        ticks_per_second: float = DEFAULT_TICKS_PER_SECOND,
        web_root: Path | None = None,
        emulator_env: Mapping[str, str] | None = None,
        auth_env: Mapping[str, str] | None = None,
        marketdata_env: Mapping[str, str] | None = None,
        gateway_env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.n_gateways = gateways
        self.n_ingestors = ingestors
        self.ticks_per_second = ticks_per_second
        self.web_root = web_root
        # One token key for auth and the ingestors (how they share the sealed feed token).
        self._token_key = Fernet.generate_key().decode()
        # Typed as Any: they are splatted into helpers that also take non-str keywords.
        self._emulator_env: dict[str, Any] = dict(emulator_env or {})
        self._auth_env: dict[str, Any] = {"LIVEWS_TOKEN_KEY": self._token_key, **(auth_env or {})}
        self._marketdata_env: dict[str, Any] = {
            **MARKETDATA_ENV,
            "LIVEWS_TOKEN_KEY": self._token_key,
            **(marketdata_env or {}),
        }
        self._gateway_env: dict[str, Any] = {**GATEWAY_ENV, **(gateway_env or {})}
        self.procs: dict[str, ServiceProcess] = {}
        #: Parts stopped on purpose (by kill/stop/signal here) and not restarted since.
        self.down: set[str] = set()
        # One server, a 3x2 Cluster or Sentinel: LIVEWS_TEST_REDIS (redis_topology).
        self.redis: RedisTopology = make_redis()
        self.emulator: Emulator
        self.auth: AuthService
        self.ingestors: list[Marketdata] = []
        self.gateways: list[GatewayProcess] = []
        self.nginx: Nginx
        self.startup_seconds = 0.0
        self._clients: list[RecordingClient] = []

    # -- start and stop -----------------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        health_url: str | None = None,
        timeout: float = 30.0,
    ) -> ServiceProcess:
        """A ``Spawn`` for the fleet_* helpers that starts without waiting (we wait later)."""
        name = _PART_NAMES.get(name, name)
        proc = ServiceProcess(
            name, argv, env=env, health_url=health_url,
            log_path=self.workdir / "logs" / f"{name}.log", cwd=self.workdir,
        )  # fmt: skip
        self.procs[name] = proc
        proc.start()
        return proc

    def start(self, timeout: float = 60.0) -> Fleet:
        """Start every part, sign the feed account in, wait until ticks reach ``md:last``."""
        began = time.monotonic()
        try:
            self._start(timeout)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.emulator = start_emulator(
            self._spawn, self.workdir,
            EMULATOR_TICKS_PER_SECOND=str(self.ticks_per_second), **self._emulator_env,
        )  # fmt: skip
        self.auth = start_auth(
            self._spawn, self.workdir, self.redis.url, self.emulator, name="auth",
            **self._auth_env,
        )  # fmt: skip
        self._wait_healthy(["emulator", "auth"], timeout)
        for i in range(1, self.n_ingestors + 1):
            self.ingestors.append(
                start_marketdata(
                    self._spawn,
                    self.workdir,
                    self.redis.url,
                    self.emulator,
                    name=f"md{i}",
                    access_token=None,
                    state_dir=self.workdir / f"md{i}-state",
                    **self._marketdata_env,
                )
            )
        for i in range(1, self.n_gateways + 1):
            self.gateways.append(
                start_gateway(
                    self._spawn,
                    self.workdir,
                    self.redis.url,
                    self.auth.jwks_url,
                    name=f"gw{i}",
                    ready=False,
                    **self._gateway_env,
                )
            )
        self.nginx = start_nginx(
            self._spawn, self.workdir, [g.port for g in self.gateways],
            auth_port=self.auth.port, web_root=self.web_root,
        )  # fmt: skip
        self._wait_healthy(list(self.procs), timeout)
        for gw in self.gateways:
            gw.process.wait_healthy(timeout, path_url=f"{gw.url}/readyz")
        # The feed token, the real way: the first sign-in makes auth the feed's custodian.
        client, _ = login(self.url, FEED_ACCOUNT)
        client.close()
        self._wait_sync(self._feed_flowing, timeout, "the leader publishing ticks to md:last")

    def _wait_healthy(self, parts: Iterable[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name in parts:
            proc = self.procs[name]
            proc.wait_healthy(max(1.0, deadline - time.monotonic()))

    @staticmethod
    def _wait_sync(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.1)

    def _feed_flowing(self) -> bool:
        if self.leader() is None:
            return False
        status = self._sync_redis(lambda r: r.get(names.STATUS))
        if not status or json.loads(status).get("upstream") != "up":
            return False
        return bool(self._sync_redis(lambda r: r.hlen(names.LAST_TICKS)))

    def _sync_redis(self, fn: Callable[[redis.Redis], Any]) -> Any:
        client = redisconn.connect_sync(self.redis.url, socket_timeout=2.0)
        try:
            return fn(client)
        except redis.RedisError:
            return None
        finally:
            client.close()

    def close(self) -> None:
        """Stop every process (SIGTERM to all at once, SIGKILL after 5 s) and the Redis server."""
        procs = list(self.procs.values())
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.stop(timeout=5.0)
        self.redis.close()

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- where things are ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The load balancer: ``/socket.io/``, ``/auth/``, and ``/`` (the web build if given)."""
        return self.nginx.url

    @property
    def redis_url(self) -> str:
        """The Redis admin user's URL (fixtures poke Redis with it); the services each run as
        their own least-privilege user (:meth:`redis_role_url`)."""
        return self.redis.url

    def redis_role_url(self, role: str) -> str:
        """The URL of Redis ACL user ``role``: ``auth``, ``marketdata``, ``gateway``,
        ``consumer`` (livews_common.redis_acl) — what each process of this fleet runs as."""
        return self.redis.role_url(role)

    def parts(self) -> list[str]:
        """Every part's name, in start order (``redis`` first)."""
        return ["redis", *self.procs]

    def pids(self) -> dict[str, int]:
        """Process id of every running part (for psutil sampling)."""
        pids = {n: p.pid for n, p in self.procs.items() if p.alive and p.pid is not None}
        for node, pid in self.redis.pids().items():
            pids["redis" if node == "redis" else f"redis-{node}"] = pid
        return pids

    def gateway(self, name: str) -> GatewayProcess:
        return next(g for g in self.gateways if g.process.name == name)

    def ingestor(self, name: str) -> Marketdata:
        return next(m for m in self.ingestors if m.process.name == name)

    def leader(self) -> str | None:
        """Name of the ingestor holding the lease (``md1``…), or None."""
        holder = self._sync_redis(lambda r: r.get(names.LEADER_LEASE))
        if not holder:
            return None
        value = holder.decode()
        return next((m.process.name for m in self.ingestors if m.instance == value), None)

    async def wait_leader(self, within: float = 15.0, *, not_: str | None = None) -> str:
        """Wait for an ingestor (other than ``not_``) to hold the lease; its name."""
        found: str = await poll(
            lambda: (lead := self.leader()) is not None and lead != not_ and lead,
            within, "an ingestor leader" + (f" other than {not_}" if not_ else ""),
        )  # fmt: skip
        return found

    def connections(self) -> dict[str, int]:
        """Open client connections per running gateway (from its /metrics)."""
        counts: dict[str, int] = {}
        for gw in self.gateways:
            if gw.process.alive:
                with contextlib.suppress(httpx.HTTPError):
                    counts[gw.process.name] = int(gw.metric("livews_gateway_connections"))
        return counts

    def log_tails(self, lines: int = 15) -> str:
        """The end of every part's log (for a failure message)."""
        return "\n".join(f"--- {n}\n{p.log_tail(lines)}" for n, p in self.procs.items())

    # -- signing in ---------------------------------------------------------------------------

    def login(self, fy_id: str = "XA00001") -> str:
        """Sign in as ``fy_id`` through nginx; an access JWT."""
        client, token = login(self.url, fy_id)
        client.close()
        return token

    async def login_async(self, fy_id: str = "XA00001") -> str:
        client, token = await login_async(self.url, fy_id)
        await client.aclose()
        return token

    @contextlib.asynccontextmanager
    async def token_source(self, fy_id: str = "XA00001") -> AsyncIterator[TokenSource]:
        """A signed-in browser session: ``await source()`` gives a fresh-enough access JWT."""
        client, token = await login_async(self.url, fy_id)
        source = TokenSource(client, token)
        try:
            yield source
        finally:
            await client.aclose()

    # -- clients ------------------------------------------------------------------------------

    async def client(
        self,
        symbols: list[str],
        *,
        token: str | Callable[[], Awaitable[str]] | None = None,
        mode: str = "quote",
        keep_latencies: bool = True,
        wait_snapshot: bool = True,
        within: float = 15.0,
        encoding: str | None = None,
        keep_raw: bool = False,
    ) -> RecordingClient:
        """A started :class:`RecordingClient` through nginx (closed by :meth:`close_clients`).

        ``token``: a JWT, a coroutine function returning one (called on every connect), or
        None to sign in a new user session through nginx. ``encoding``: ``json`` or
        ``compact`` (default: env ``LIVEWS_TEST_FORMAT``, see :class:`RecordingClient`).
        """
        if token is None:
            token = await self.login_async()
        source = _constant(token) if isinstance(token, str) else token
        rc = FleetClient(
            self.url, source, symbols, mode=mode, keep_latencies=keep_latencies,
            encoding=encoding, keep_raw=keep_raw,
        )  # fmt: skip
        self._clients.append(rc)
        await rc.start(wait_timeout=within)
        if wait_snapshot:
            await asyncio.wait_for(rc.snapshot_seen.wait(), within)
        return rc

    async def close_clients(self) -> None:
        clients, self._clients = self._clients, []
        for rc in clients:
            with contextlib.suppress(Exception):
                await rc.stop()

    # -- faults -------------------------------------------------------------------------------

    def kill(self, part: str) -> None:
        """SIGKILL ``part`` (its whole process group), as a crash would."""
        self.down.add(part)
        if part == "redis":
            self.redis.kill()
        else:
            self.procs[part].kill()

    def stop(self, part: str, timeout: float = 15.0) -> int | None:
        """SIGTERM ``part`` and wait for it to exit (SIGKILL after ``timeout``); exit code."""
        self.down.add(part)
        if part == "redis":
            self.redis.stop(timeout)
            return 0
        return self.procs[part].stop(timeout)

    def signal(self, part: str, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` without waiting (the part is expected to go down)."""
        self.down.add(part)
        self.procs[part].signal(sig)

    async def restart(self, part: str, within: float = 30.0) -> float:
        """(Re)start ``part`` on its port and wait until healthy; seconds it took."""
        began = time.monotonic()
        if part == "redis":
            self.redis.stop()
            await asyncio.to_thread(self.redis.start)
        else:
            proc = self.procs[part]
            if proc.alive:
                await asyncio.to_thread(proc.stop)
            proc.start()
            await asyncio.to_thread(proc.wait_healthy, within)
            if part.startswith("gw"):
                url = f"{self.gateway(part).url}/readyz"
                await asyncio.to_thread(proc.wait_healthy, within, url)
        self.down.discard(part)
        return time.monotonic() - began

    async def pause_redis(self, seconds: float) -> None:
        """``CLIENT PAUSE … ALL`` (reads and writes of every client) for ``seconds``; no wait."""
        client = redisconn.connect(self.redis.url)
        try:
            if redisconn.is_cluster(client):  # every node, not just one
                pause: Any = client.execute_command
                await pause("CLIENT PAUSE", int(seconds * 1000), "ALL", target_nodes="all")
            else:
                await client.client_pause(int(seconds * 1000), all=True)
        finally:
            await client.aclose()

    def admin(self, action: str, **params: object) -> None:
        """An emulator fault control (``drop``, ``stall``, ``garbage``, ``rate``…)."""
        self.emulator.admin(action, **params)

    # -- checks -------------------------------------------------------------------------------

    def assert_alive(self) -> None:
        """Every part not stopped on purpose is still running (none exited on its own)."""
        dead = [n for n, p in self.procs.items() if n not in self.down and not p.alive]
        if "redis" not in self.down and not self.redis.running:
            dead.append("redis")
        assert not dead, f"exited on their own: {dead}\n{self.log_tails()}"

    async def md_last(self) -> dict[str, dict[str, Any]]:
        """``md:last`` decoded (symbol → Tick)."""
        client = redisconn.connect(self.redis.url, socket_timeout=2.0)
        try:
            raw = await client.hgetall(names.LAST_TICKS)
        finally:
            await client.aclose()
        return {_text(k): json.loads(v) for k, v in raw.items()}

    async def md_status(self) -> dict[str, Any] | None:
        client = redisconn.connect(self.redis.url, socket_timeout=2.0)
        try:
            raw = await client.get(names.STATUS)
        finally:
            await client.aclose()
        return json.loads(raw) if raw else None

    async def quiesce(self, *, settle: float = 1.0, within: float = 20.0) -> dict[str, int]:
        """Stop upstream ticks and wait until ``md:last`` holds still for ``settle`` s.

        Returns the settled seqs. :meth:`resume` starts the ticks again.
        """
        self.admin("rate", ticks_per_second=0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        seqs = _seqs(await self.md_last())
        still_since = loop.time()
        while loop.time() - still_since < settle:
            if loop.time() > deadline:
                raise AssertionError(f"md:last kept changing for {within}s after rate 0")
            await asyncio.sleep(0.1)
            now = _seqs(await self.md_last())
            if now != seqs:
                seqs, still_since = now, loop.time()
        return seqs

    def resume(self, ticks_per_second: float | None = None) -> None:
        """Upstream ticks at ``ticks_per_second`` (default: the fleet's rate) again."""
        self.admin("rate", ticks_per_second=ticks_per_second or self.ticks_per_second)

    async def wait_fresh(
        self, clients: Iterable[RecordingClient], since: float, within: float = 15.0
    ) -> float:
        """Wait until every client holds a tick ingested after ``since`` (epoch seconds).

        Returns seconds from ``since`` until that was seen (the recovery time after a fault
        that ended at ``since``).
        """
        clients = list(clients)
        since_ms = since * 1000

        def fresh() -> bool:
            return all(
                any(t["ingest_ts"] >= since_ms for t in rc.rec.latest.values()) for rc in clients
            )

        await poll(fresh, within, f"fresh ticks at every client within {within}s", every=0.02)
        return time.time() - since

    async def assert_clients_match_md_last(
        self, clients: Iterable[RecordingClient], within: float = 15.0
    ) -> float:
        """Every client holds exactly ``md:last``'s tick for each symbol it subscribed.

        Polls until true or ``within`` s pass; returns the seconds it took. Also checks that no
        client ever received a stale tick (a live ``seq`` not above what it held).
        """
        clients = list(clients)
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            last = await self.md_last()
            wrong = [_mismatch(rc, last) for rc in clients]
            if not any(wrong):
                break
            if loop.time() - began > within:
                detail = "; ".join(w for w in wrong if w)[:2000]
                raise AssertionError(f"clients differ from md:last after {within}s: {detail}")
            await asyncio.sleep(0.1)
        stale = [rc.rec.stale_ticks for rc in clients]
        assert not any(stale), f"stale ticks received: {stale}"
        return loop.time() - began


class FleetClient(RecordingClient):
    """A :class:`RecordingClient` that also rejoins after ``bye`` with ``reconnect: true``.

    The gateway ends ``reconnect: true`` connections so that python-socketio reconnects by
    itself (CONTRACT §3 "Reconnecting"); this rejoin only covers a server that sent a
    Socket.IO disconnect anyway (python-socketio does not reconnect after one).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rejoin = False
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def _on_bye(self, data: dict[str, Any]) -> None:
        await super()._on_bye(data)
        self._rejoin = bool(data.get("reconnect"))

    async def _on_disconnect(self, *args: Any) -> None:
        await super()._on_disconnect(*args)
        server_ended = bool(args) and args[-1] == socketio.AsyncClient.reason.SERVER_DISCONNECT
        rejoin, self._rejoin = self._rejoin, False
        if rejoin and server_ended and not self._closing:
            task = asyncio.create_task(self._reconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reconnect(self) -> None:
        delay = 0.1
        while not self._closing and not self.sio.connected:
            # python-socketio finishes its own disconnect after this handler returned.
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(2.0, delay * 2)
            with contextlib.suppress(socketio.exceptions.ConnectionError, ValueError):
                await self.start()

    async def stop(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().stop()


class TokenSource:
    """A signed-in session's current access JWT, refreshed through ``/auth/token`` when old.

    When auth is unreachable it keeps answering with the token it has (which the gateways
    still accept until it expires), as a browser would.
    """

    def __init__(self, client: httpx.AsyncClient, token: str, max_age: float = 300.0) -> None:
        self._client = client
        self.token = token
        self._at = time.monotonic()
        self._max_age = max_age

    async def __call__(self) -> str:
        if time.monotonic() - self._at > self._max_age:
            with contextlib.suppress(Exception):
                self.token = await refresh_async(self._client)
                self._at = time.monotonic()
        return self.token


def _constant(token: str) -> Callable[[], Awaitable[str]]:
    async def source() -> str:
        return token

    return source


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _seqs(last: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    return {symbol: int(tick["seq"]) for symbol, tick in last.items()}


def _mismatch(rc: RecordingClient, last: Mapping[str, Mapping[str, Any]]) -> str:
    rejected = {r.get("symbol") for r in rc.rec.rejected}
    wrong = []
    for symbol in rc.symbols:
        if symbol in rejected:
            continue
        want, held = last.get(symbol), rc.rec.latest.get(symbol)
        if want != held:
            wrong.append(
                f"{symbol}: md:last seq {want and want['seq']}, client {held and held['seq']}"
            )
    return f"client#{id(rc) % 10000}: " + ", ".join(wrong[:5]) if wrong else ""


async def poll(predicate: Callable[[], Any], within: float, what: str, every: float = 0.05) -> Any:
    """Await ``predicate()`` (sync or async) until truthy; fail naming ``what`` after ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


# -- fixtures -------------------------------------------------------------------------------


def running_fleet(fleet: Fleet) -> Iterator[Fleet]:
    """Start ``fleet`` for a fixture (``yield from``), failing clearly if it cannot; close after."""
    try:
        fleet.start()
    except ProcessFailed as exc:
        fleet.close()
        raise AssertionError(f"the fleet did not start: {exc}") from None
    try:
        yield fleet
    finally:
        fleet.close()


def _fleet_fixture(workdir: Path) -> Iterator[Fleet]:
    yield from running_fleet(Fleet(workdir))


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A fresh fleet for one test (faults may damage it); 4–9 s to start on 2 cores."""
    yield from _fleet_fixture(tmp_path / "fleet")


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One fleet for every test of a module that does not damage it (abuse, fuzzing)."""
    yield from _fleet_fixture(tmp_path_factory.mktemp("fleet"))
