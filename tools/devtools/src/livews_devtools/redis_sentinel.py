"""A private Sentinel-managed Redis: a primary, two replicas and three Sentinels, on loopback.

The same surface as :class:`livews_devtools.redis_server.RedisServer` (``url``, ``role_url``,
``passwords``, ``acl``, ``running``, ``start``, ``stop``, ``kill``, ``restart``, ``close``, a
context manager), so the fleet, the fixtures and ``livews-dev`` take either; plus the fault
helpers :meth:`RedisSentinelServer.kill_primary`, :meth:`~RedisSentinelServer.primary_port`,
:meth:`~RedisSentinelServer.restart_node` and :meth:`~RedisSentinelServer.wait_stable`.

Every data node loads the fleet's ACL file (``default`` off) and replicates as the ``admin``
user (``masteruser``/``masterauth``); the Sentinels watch service :data:`SERVICE` as ``admin``
too (``sentinel auth-user``/``auth-pass``), quorum 2, with short timeouts so that a killed
primary is replaced within a few seconds. The Sentinels themselves take no password. ``url``
is ``redis+sentinel://admin:<pw>@127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/livews`` (CONTRACT.md
§1), which :func:`livews_common.redisconn.connect` follows to whichever node is primary.
Nothing is kept on disk.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from livews_common import redis_acl
from livews_common.settings import redis_url_with_credentials
from livews_devtools.ports import free_port
from livews_devtools.redis_server import (
    ACL_MIN_VERSION,
    RedisUnavailable,
    find_redis_server,
    redis_version,
    role_password,
    role_url,
)

#: The name the Sentinels manage the primary under (the last part of ``url``).
SERVICE = "livews"
#: Sentinels that must agree the primary is down before one of them fails it over.
QUORUM = 2
#: How long a primary may not answer before a Sentinel thinks it down.
DOWN_AFTER_MS = 1000
#: A failover that has not finished by then is given up and may be tried again after twice it.
FAILOVER_TIMEOUT_MS = 2000


class _Process:
    """One redis-server (data node or Sentinel) on its own port and directory."""

    def __init__(self, name: str, port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, argv: list[str]) -> None:
        with (self.dir / "redis.log").open("ab") as log:
            # Its own session: a Ctrl-C meant for a dev runner must not reach Redis first.
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir
            )

    def stop(self, timeout: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 10) -> str:
        path = self.dir / "redis.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class RedisSentinelServer:
    """Primary + 2 replicas + 3 Sentinels from ``redis-server``; see the module doc."""

    def __init__(self, *, replicas: int = 2, sentinels: int = 3, binary: str | None = None) -> None:
        self.binary = binary or find_redis_server()
        if redis_version(self.binary) < ACL_MIN_VERSION:
            raise RedisUnavailable(f"{self.binary} is older than Redis 7.0 (no ACL selectors)")
        self.acl = True
        self.admin_password = secrets.token_hex(16)
        self._tmp = tempfile.TemporaryDirectory(prefix="livews-sentinel-")
        root = Path(self._tmp.name)
        self.nodes = [_Process(f"node{i}", free_port(), root) for i in range(1 + replicas)]
        self.sentinels = [_Process(f"sentinel{i}", free_port(), root) for i in range(sentinels)]
        self._aclfile = root / "users.acl"

    # -- where things are ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The admin user's ``redis+sentinel://`` URL."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        plain = f"redis+sentinel://{hosts}/{SERVICE}"
        return redis_url_with_credentials(plain, redis_acl.ADMIN, self.admin_password)

    def role_url(self, role: str) -> str:
        """The URL of Redis user ``role`` (``auth``, ``marketdata``, ``gateway``, ``consumer``)."""
        redis_acl.role(role)
        return role_url(self.url, role)

    def passwords(self) -> dict[str, str]:
        """Every ACL user's password, by role name."""
        found = {r: role_password(self.admin_password, r) for r in redis_acl.SERVICE_ROLES}
        return {**found, redis_acl.ADMIN: self.admin_password}

    @property
    def running(self) -> bool:
        """Every Sentinel is up and so is at least one data node (a killed primary is a fault
        the topology rides out, not a stopped Redis)."""
        return all(s.alive for s in self.sentinels) and any(n.alive for n in self.nodes)

    def pids(self) -> dict[str, int]:
        """Process id of every running node and Sentinel, by name."""
        return {p.name: p.proc.pid for p in self.nodes + self.sentinels if p.proc and p.alive}

    # -- start and stop -----------------------------------------------------------------------

    def _node_argv(self, node: _Process, primary: int | None) -> list[str]:
        argv = [self.binary, "--port", str(node.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(node.dir),
                "--daemonize", "no", "--loglevel", "warning", "--maxclients", "20000",
                "--aclfile", str(self._aclfile),
                "--masteruser", redis_acl.ADMIN, "--masterauth", self.admin_password,
                # A replica that must resync after a failover gets the data over the socket
                # at once, not after the default five-second wait for more replicas.
                "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]  # fmt: skip
        if primary is not None:
            argv += ["--replicaof", "127.0.0.1", str(primary)]
        return argv

    def _sentinel_conf(self, sentinel: _Process, primary: int) -> Path:
        conf = sentinel.dir / "sentinel.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {sentinel.port}",
                    "bind 127.0.0.1",
                    f"dir {sentinel.dir}",
                    f"sentinel monitor {SERVICE} 127.0.0.1 {primary} {QUORUM}",
                    f"sentinel auth-user {SERVICE} {redis_acl.ADMIN}",
                    f"sentinel auth-pass {SERVICE} {self.admin_password}",
                    f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {SERVICE} {len(self.nodes)}",
                    "",
                ]
            )
        )
        return conf

    def start(self, timeout: float = 20.0) -> None:
        """Start the nodes (the first one primary) and the Sentinels; wait until stable."""
        self._aclfile.write_text(redis_acl.acl_file(self.passwords()))
        self._aclfile.chmod(0o600)
        primary = self.nodes[0].port
        for i, node in enumerate(self.nodes):
            node.spawn(self._node_argv(node, None if i == 0 else primary))
        for sentinel in self.sentinels:
            conf = self._sentinel_conf(sentinel, primary)
            sentinel.spawn([self.binary, str(conf), "--sentinel", "--loglevel", "warning"])
        try:
            self.wait_stable(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop everything (the Sentinels first, so that they start no failover meanwhile)."""
        for proc in self.sentinels + self.nodes:
            proc.stop(timeout)

    def kill(self) -> None:
        """SIGKILL every node and Sentinel, as a crash of the whole topology would."""
        for proc in self.sentinels + self.nodes:
            proc.kill()

    def restart(self) -> None:
        """Everything down, then up again on the same ports with the first node primary
        (empty: nothing is kept on disk)."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> RedisSentinelServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- faults -------------------------------------------------------------------------------

    def _client(self, port: int, *, admin: bool = True) -> redis.Redis:
        if not admin:  # a Sentinel: no users
            return redis.Redis(port=port, socket_timeout=1.0, socket_connect_timeout=0.5)
        return redis.Redis(
            port=port, username=redis_acl.ADMIN, password=self.admin_password,
            socket_timeout=1.0, socket_connect_timeout=0.5,
        )  # fmt: skip

    def _ask(self, port: int, *args: str, admin: bool = True) -> object:
        """One command to the process on ``port``; None when it does not answer."""
        client = self._client(port, admin=admin)
        try:
            return client.execute_command(*args)  # type: ignore[no-untyped-call]
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _sentinel_view(self, sentinel: _Process) -> tuple[int, int] | None:
        """``(primary port, other Sentinels known)`` as ``sentinel`` sees it, if it is sure."""
        found = self._ask(sentinel.port, "SENTINEL", "MASTER", SERVICE, admin=False)
        if not isinstance(found, (list, dict)):
            return None
        info = found if isinstance(found, dict) else dict(zip(found[::2], found[1::2], strict=True))
        info = {_text(k): _text(v) for k, v in info.items()}
        if info.get("flags") != "master":  # s_down, o_down, failover_in_progress…
            return None
        return int(info["port"]), int(info["num-other-sentinels"])

    def primary_port(self, name: str | None = None) -> int:
        """The port of the node the Sentinels elect as primary (``name`` is for the Cluster
        harness's signature: one primary serves every key here)."""
        for sentinel in self.sentinels:
            if sentinel.alive:
                addr = self._ask(
                    sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE, admin=False
                )
                if isinstance(addr, (list, tuple)) and len(addr) == 2:
                    return int(addr[1])
        raise RedisUnavailable("no Sentinel names a primary")

    def node(self, port: int) -> _Process:
        return next(n for n in self.nodes if n.port == port)

    def kill_primary(self, name: str | None = None) -> int:
        """SIGKILL the current primary, as a crash would; its port."""
        port = self.primary_port(name)
        self.node(port).kill()
        return port

    def restart_node(self, port: int) -> None:
        """Bring a stopped data node back on ``port`` as a replica of the current primary
        (empty, as after a crash without persistence: it resyncs)."""
        node = self.node(port)
        if node.alive:
            return
        node.spawn(self._node_argv(node, self.primary_port()))

    def _stable(self) -> str:
        """What is not settled yet ('' once it is)."""
        live_sentinels = [s for s in self.sentinels if s.alive]
        if len(live_sentinels) < QUORUM:
            return f"only {len(live_sentinels)} Sentinels running"
        views = {s.name: self._sentinel_view(s) for s in live_sentinels}
        primaries = {v[0] for v in views.values() if v}
        if None in views.values() or len(primaries) != 1:
            return f"Sentinels disagree or are unsure: {views}"
        primary = primaries.pop()
        if any(v and v[1] < len(live_sentinels) - 1 for v in views.values()):
            return f"Sentinels do not know each other yet: {views}"
        if not any(n.port == primary and n.alive for n in self.nodes):
            return f"the elected primary {primary} is not running"
        role = self._ask(primary, "ROLE")
        if not isinstance(role, list) or _text(role[0]) != "master":
            return f"{primary} does not answer as master: {role}"
        for node in self.nodes:
            if node.alive and node.port != primary:
                info = self._ask(node.port, "INFO", "replication")
                if (
                    not isinstance(info, dict)
                    or info.get("master_port") != primary
                    or (info.get("master_link_status") != "up")
                ):
                    return f"replica {node.port} is not attached to {primary}"
        return ""

    def wait_stable(self, timeout: float = 20.0) -> None:
        """Until the Sentinels agree on one live primary that answers as master, know each
        other, and every other running node replicates from it."""
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.nodes + self.sentinels:
                if proc.proc is not None and not proc.alive:
                    raise RedisUnavailable(f"{proc.name} exited:\n{proc.log_tail()}")
            why = self._stable()
            if not why:
                return
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"Sentinel topology not stable after {timeout}s: {why}")
            time.sleep(0.1)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
