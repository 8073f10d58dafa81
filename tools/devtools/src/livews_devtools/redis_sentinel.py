"""A private Sentinel-managed Redis: a primary, two replicas and three Sentinels, on loopback.

The same surface as :class:`livews_devtools.redis_server.RedisServer` (``url``, ``role_url``,
``passwords``, ``acl``, ``running``, ``start``, ``stop``, ``kill``, ``restart``, ``close``, a
context manager), so the fleet, the fixtures and ``livews-dev`` take either; plus the fault
helpers :meth:`RedisSentinelServer.kill_primary`, :meth:`~RedisSentinelServer.primary_port`,
:meth:`~RedisSentinelServer.restart_node` and :meth:`~RedisSentinelServer.wait_stable`.

Every data node loads the fleet's ACL file (``default`` off) and replicates as the ``replica``
user (``masteruser``/``masterauth``); the Sentinels watch service :data:`SERVICE` as the
``sentinel`` user (``sentinel auth-user``/``auth-pass``): neither may read or write a data key
(livews_common.redis_acl). Quorum 2, with short timeouts so that a killed
primary is replaced within a few seconds. The Sentinels themselves take no password. ``url``
is ``redis+sentinel://admin:<pw>@127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/livews`` (CONTRACT.md
§1), which :func:`livews_common.redisconn.connect` follows to whichever node is primary.
Nothing is kept on disk.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator

import redis

from livews_common import redis_acl
from livews_common.settings import redis_url_with_credentials
from livews_devtools.redis_server import (
    ACL_MIN_VERSION,
    RedisServer,
    RedisUnavailable,
    Started,
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


class _Sentinel(RedisServer):
    """One Sentinel: a redis-server in Sentinel mode, reached without a user."""

    def __init__(self, binary: str, conf: list[str]) -> None:
        super().__init__(binary=binary, acl=False)
        self.conf = conf

    def start(self, timeout: float = 10.0) -> None:
        path = self.workdir / "sentinel.conf"  # Sentinel rewrites it as it learns
        path.write_text("\n".join([f"port {self.port}", "bind 127.0.0.1", *self.conf, ""]))
        with (self.workdir / "redis.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, str(path), "--sentinel", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        # Whether it answers is checked by RedisSentinelServer.wait_stable.


class RedisSentinelServer(Started):
    """Primary + 2 replicas + 3 Sentinels from ``redis-server``; see the module doc."""

    def __init__(self, *, replicas: int = 2, sentinels: int = 3, binary: str | None = None) -> None:
        self.binary = binary or find_redis_server()
        if redis_version(self.binary) < ACL_MIN_VERSION:
            raise RedisUnavailable(f"{self.binary} is older than Redis 7.0 (no ACL selectors)")
        self.acl = True
        self.admin_password = secrets.token_hex(16)
        self.nodes = [
            RedisServer(binary=self.binary, admin_password=self.admin_password)
            for _ in range(1 + replicas)
        ]
        self.sentinels = [_Sentinel(self.binary, []) for _ in range(sentinels)]
        #: Data nodes stopped on purpose (kill_primary) and not restarted since.
        self._down: set[int] = set()

    # -- where things are ---------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        """The data nodes' ports (the primary and its replicas; not the Sentinels')."""
        return [n.port for n in self.nodes]

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
        """Every ACL user's password, by role name (the same on every data node)."""
        return self.nodes[0].passwords()

    def _password(self, role: str) -> str:
        return role_password(self.admin_password, role)

    @property
    def running(self) -> bool:
        """Every Sentinel and every data node not killed on purpose runs (a killed primary is
        a fault the topology rides out, not a stopped Redis)."""
        nodes = [n for n in self.nodes if n.port not in self._down]
        return bool(nodes) and all(p.running for p in self.sentinels + nodes)

    def pids(self) -> dict[str, int]:
        """``{"node<port>" | "sentinel<port>": pid}`` of the processes that run."""
        found = {f"node{n.port}": n.pid for n in self.nodes}
        found |= {f"sentinel{s.port}": s.pid for s in self.sentinels}
        return {name: pid for name, pid in found.items() if pid is not None}

    # -- start and stop -----------------------------------------------------------------------

    def _start_node(self, node: RedisServer, primary: int | None, timeout: float) -> None:
        node.extra_args = (
            "--masteruser", redis_acl.REPLICA, "--masterauth", self._password(redis_acl.REPLICA),
            # A replica that must resync after a failover gets the data over the socket at
            # once, not after the default five-second wait for more replicas.
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
            *(("--replicaof", "127.0.0.1", str(primary)) if primary is not None else ()),
        )  # fmt: skip
        node.start(timeout)
        self._down.discard(node.port)

    def _sentinel_conf(self, sentinel: _Sentinel, primary: int) -> list[str]:
        return [
            f"dir {sentinel.workdir}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} {QUORUM}",
            f"sentinel auth-user {SERVICE} {redis_acl.SENTINEL}",
            f"sentinel auth-pass {SERVICE} {self._password(redis_acl.SENTINEL)}",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} {len(self.nodes)}",
        ]

    def start(self, timeout: float = 20.0) -> None:
        """Start the nodes (the first one primary) and the Sentinels; wait until stable."""
        deadline = time.monotonic() + timeout
        primary = self.nodes[0].port
        try:
            for i, node in enumerate(self.nodes):
                self._start_node(node, None if i == 0 else primary, timeout)
            for sentinel in self.sentinels:
                sentinel.conf = self._sentinel_conf(sentinel, primary)
                sentinel.start()
            self.wait_stable(max(1.0, deadline - time.monotonic()))
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
        for proc in self.sentinels + self.nodes:
            proc.close()

    # -- faults -------------------------------------------------------------------------------

    def _ask(self, port: int, *args: str, admin: bool = True) -> object:
        """One command to the process on ``port`` (a Sentinel without ``admin``); None when
        it does not answer."""
        client = redis.Redis(
            port=port, socket_timeout=1.0, socket_connect_timeout=0.5,
            username=redis_acl.ADMIN if admin else None,
            password=self.admin_password if admin else None,
        )  # fmt: skip
        try:
            return client.execute_command(*args)  # type: ignore[no-untyped-call]
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _sentinel_view(self, sentinel: _Sentinel) -> tuple[int, int] | None:
        """``(primary port, other Sentinels known)`` as ``sentinel`` sees it, if it is sure."""
        found = self._ask(sentinel.port, "SENTINEL", "MASTER", SERVICE, admin=False)
        if isinstance(found, list):
            found = dict(zip(found[::2], found[1::2], strict=True))
        if not isinstance(found, dict):
            return None
        info = {_text(k): _text(v) for k, v in found.items()}
        if info.get("flags") != "master":  # s_down, o_down, failover_in_progress…
            return None
        return int(info["port"]), int(info["num-other-sentinels"])

    def _named(self) -> Iterator[int]:
        """The primary port each running Sentinel that answers names."""
        for sentinel in self.sentinels:
            if sentinel.running:
                addr = self._ask(
                    sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE, admin=False
                )
                if isinstance(addr, (list, tuple)) and len(addr) == 2:
                    yield int(addr[1])

    def _switched(self) -> set[int | None]:
        """The primary port each running Sentinel holds with no failover in progress (None for
        one that is mid-failover or does not answer)."""
        views = [self._sentinel_view(s) for s in self.sentinels if s.running]
        return {v[0] if v else None for v in views}

    def primary_port(self, name: str | None = None) -> int:
        """The port of the node the first answering Sentinel names as primary (``name`` is for
        the Cluster harness's signature: one primary serves every key here). Mid-failover
        the Sentinels may disagree: :meth:`wait_stable` first."""
        for port in self._named():
            return port
        raise RedisUnavailable("no Sentinel names a primary")

    def node(self, port: int) -> RedisServer:
        """The data node on ``port``."""
        return next(n for n in self.nodes if n.port == port)

    def kill_primary(self, name: str | None = None) -> int:
        """SIGKILL the current primary, as a crash would; its port."""
        port = self.primary_port(name)
        self._down.add(port)
        self.node(port).kill()
        return port

    def switchover(self, timeout: float = 10.0) -> int:
        """A planned switchover without lost writes; the old primary's port. Then
        :meth:`wait_stable`.

        ``SENTINEL FAILOVER`` alone promotes a replica but leaves the old primary a writable
        primary until the Sentinels reconfigure it, about 8 s later (four hello periods):
        clients still connected to it keep writing there and lose those writes when it turns
        replica. So, as docs/operations.md tells operators: pause writes on the old primary
        (``CLIENT PAUSE … WRITE``), fail over, make the old primary a replica of the new one
        at once, unpause. The writes that waited then answer ``READONLY``, which the clients
        of :mod:`livews_common.redisconn` take as "the primary moved" (they reconnect to it).
        """
        old = self.primary_port()
        sentinel = next(s for s in self.sentinels if s.running)
        self._ask(old, "CLIENT", "PAUSE", str(int(timeout * 1000)), "WRITE")
        try:
            if self._ask(sentinel.port, "SENTINEL", "FAILOVER", SERVICE, admin=False) is None:
                raise RedisUnavailable(f"Sentinel on {sentinel.port} refused the failover")
            # Every Sentinel must have switched to the new primary before the old one refuses
            # writes: clients ask any of them (SENTINEL MASTERS, which keeps the old address
            # until the failover ends, although GET-MASTER-ADDR-BY-NAME names the promoted
            # replica earlier), and one still naming the old primary sends them back to it.
            deadline = time.monotonic() + timeout
            while len(named := self._switched()) != 1 or named & {old, None}:
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"Sentinels not agreed within {timeout}s: {named}")
                time.sleep(0.05)
            self._ask(old, "REPLICAOF", "127.0.0.1", str(named.pop()))
        finally:
            self._ask(old, "CLIENT", "UNPAUSE")
        return old

    def restart_node(self, port: int, timeout: float = 10.0) -> None:
        """Bring a stopped data node back on ``port`` as a replica of the current primary
        (empty, as after a crash without persistence: it resyncs)."""
        node = self.node(port)
        if not node.running:
            self._start_node(node, self.primary_port(), timeout)

    def _unstable(self) -> str:
        """What is not settled yet ('' once it is)."""
        sentinels = [s for s in self.sentinels if s.running]
        if len(sentinels) < QUORUM:
            return f"only {len(sentinels)} Sentinels running"
        views = {s.port: self._sentinel_view(s) for s in sentinels}
        primaries = {v[0] for v in views.values() if v}
        if None in views.values() or len(primaries) != 1:
            return f"Sentinels disagree or are unsure: {views}"
        primary = primaries.pop()
        if any(v and v[1] < len(sentinels) - 1 for v in views.values()):
            return f"Sentinels do not know each other yet: {views}"
        if not any(n.port == primary and n.running for n in self.nodes):
            return f"the elected primary {primary} is not running"
        role = self._ask(primary, "ROLE")
        if not isinstance(role, list) or _text(role[0]) != "master":
            return f"{primary} does not answer as master: {role}"
        for node in self.nodes:
            if node.running and node.port != primary:
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
            for proc in self.sentinels + self.nodes:
                if proc.port not in self._down and not proc.running:
                    log = proc.workdir / "redis.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RedisUnavailable(f"redis-server on {proc.port} is not running:\n{tail}")
            why = self._unstable()
            if not why:
                return
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"Sentinel topology not stable after {timeout}s: {why}")
            time.sleep(0.1)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
