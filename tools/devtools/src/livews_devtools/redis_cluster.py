"""A private Redis Cluster for tests and dev runs: 3 primaries with 1 replica each, on loopback.

Every node is a :class:`~livews_devtools.redis_server.RedisServer` (same binary lookup, same
ACL users and passwords, nothing kept on disk but the cluster's own ``nodes.conf``), started
with ``--cluster-enabled yes`` and joined by ``redis-cli --cluster create … --cluster-replicas 1``.
Replicas sign in to their primary as the ``replica`` user (``masteruser``/``masterauth``:
replication only, no keys); the cluster bus between nodes does not use ACL users.

``cluster-node-timeout`` is short (1.5 s by default) so that a killed primary's replica takes
over within a few seconds. ``cluster-require-full-coverage no``: while one shard fails over,
the other shards keep serving, as an operator would run it.

The surface is :class:`RedisServer`'s (``url``, ``role_url``, ``passwords``, ``start``,
``stop``, ``kill``, ``restart``, ``close``, context manager) plus the fault helpers
:meth:`RedisClusterServer.kill_primary`, :meth:`~RedisClusterServer.primary_port`,
:meth:`~RedisClusterServer.wait_stable` and :meth:`~RedisClusterServer.reshard`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import redis
from redis.crc import key_slot

from livews_common import redis_acl, redisconn
from livews_devtools.ports import free_port
from livews_devtools.redis_server import (
    ACL_MIN_VERSION,
    RedisServer,
    RedisUnavailable,
    Started,
    find_redis_server,
    redis_version,
    role_password,
)

SLOTS = 16384


def find_redis_cli(server_binary: str | None = None) -> str:
    """The ``redis-cli`` beside ``redis-server`` (same install), else the first on PATH."""
    beside = Path(server_binary or find_redis_server()).parent / "redis-cli"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(entry or ".") / "redis-cli"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise RedisUnavailable("no redis-cli beside redis-server or on PATH")


def slot_of(name: str | bytes) -> int:
    """The cluster hash slot of key or shard channel ``name`` (hash tags honoured)."""
    return int(key_slot(name.encode() if isinstance(name, str) else name))


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class RedisClusterServer(Started):
    """A Redis Cluster of ``primaries`` shards × (1 + ``replicas``) nodes on 127.0.0.1."""

    def __init__(
        self,
        *,
        primaries: int = 3,
        replicas: int = 1,
        binary: str | None = None,
        node_timeout_ms: int = 1500,
    ) -> None:
        self.binary = binary or find_redis_server()
        if redis_version(self.binary) < ACL_MIN_VERSION:
            raise RedisUnavailable(f"a Redis Cluster here needs redis-server 7.0+ ({self.binary})")
        self.cli = find_redis_cli(self.binary)
        self.acl = True
        self.admin_password = secrets.token_hex(16)
        self.primaries = primaries
        self.replicas = replicas
        count = primaries * (1 + replicas)
        replica_password = role_password(self.admin_password, redis_acl.REPLICA)
        ports = _distinct_ports(2 * count)
        self.nodes: list[RedisServer] = []
        for port, bus in zip(ports[:count], ports[count:], strict=True):
            args = ["--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-port", str(bus),
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--cluster-require-full-coverage", "no",
                    "--cluster-replica-validity-factor", "0",
                    "--cluster-allow-reads-when-down", "no",
                    "--masteruser", redis_acl.REPLICA,
                    "--masterauth", replica_password]  # fmt: skip
            node = RedisServer(
                port, binary=self.binary, admin_password=self.admin_password, extra_args=args
            )
            self.nodes.append(node)
        self._created = False
        self._killed: set[int] = set()

    # -- the RedisServer surface ---------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://admin:…@127.0.0.1:p1,…`` (every node a seed)."""
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return redisconn.with_credentials(
            f"redis+cluster://{hosts}", redis_acl.ADMIN, self.admin_password
        )

    def role_url(self, role: str) -> str:
        """The cluster URL of Redis user ``role`` (``auth``, ``marketdata``, ``gateway``, …)."""
        redis_acl.role(role)
        if role == redis_acl.ADMIN:
            return self.url
        return redisconn.with_credentials(self.url, role, role_password(self.admin_password, role))

    def node_url(self, port: int) -> str:
        """A plain ``redis://`` admin URL of one node (to ask it CLUSTER questions)."""
        return redisconn.with_credentials(
            f"redis://127.0.0.1:{port}/0", redis_acl.ADMIN, self.admin_password
        )

    def passwords(self) -> dict[str, str]:
        return self.nodes[0].passwords()

    @property
    def running(self) -> bool:
        """Every node not deliberately killed (:meth:`kill_primary`) runs."""
        alive = [n for n in self.nodes if n.port not in self._killed]
        return bool(alive) and all(n.running for n in alive)

    def pids(self) -> dict[str, int]:
        """``{"node<port>": pid}`` of the nodes that run."""
        return {f"node{n.port}": n.pid for n in self.nodes if n.pid is not None}

    def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        self._killed.clear()
        for node in self.nodes:
            if not node.running:
                node.start(timeout=max(1.0, deadline - time.monotonic()))
        if not self._created:
            self._create(deadline - time.monotonic())
            self._created = True
        self.wait_stable(max(1.0, deadline - time.monotonic()))
        self._wait_replicas_synced(max(1.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 5.0) -> None:
        for node in self.nodes:
            node.stop(timeout)

    def kill(self) -> None:
        """SIGKILL every node, as a crash of the whole cluster would."""
        for node in self.nodes:
            node.kill()

    def restart(self) -> None:
        """Stop every node and start them again on the same ports (the cluster layout is kept
        in each node's ``nodes.conf``; the data is not)."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        for node in self.nodes:
            node.close()

    # -- cluster state -------------------------------------------------------------------

    def _cli(self, *args: str, timeout: float = 60.0) -> str:
        argv = [self.cli, "--user", redis_acl.ADMIN, "--pass", self.admin_password,
                "--no-auth-warning", *args]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0 or "[ERR]" in done.stdout:
            raise RedisUnavailable(f"redis-cli {' '.join(args[:2])} failed: {done.stdout[-2000:]}"
                                   f"{done.stderr[-2000:]}")  # fmt: skip
        return done.stdout

    def _create(self, timeout: float) -> None:
        hosts = [f"127.0.0.1:{p}" for p in self.ports]
        self._cli("--cluster", "create", *hosts, "--cluster-replicas", str(self.replicas),
                  "--cluster-yes", timeout=max(5.0, timeout))  # fmt: skip

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis.from_url(
            self.node_url(port), socket_timeout=1.0, socket_connect_timeout=0.5
        )

    def _ask(self, port: int, *command: str) -> object:
        client = self._node(port)
        try:
            return client.execute_command(*command)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def _live_ports(self) -> list[int]:
        return [n.port for n in self.nodes if n.running]

    def slot_ranges(self, port: int | None = None) -> list[tuple[int, int, int]]:
        """``(first, last, primary port)`` per slot range, as node ``port`` (any live one)
        sees it."""
        asked = port if port is not None else self._live_ports()[0]
        ranges = self._ask(asked, "CLUSTER", "SLOTS")
        assert isinstance(ranges, list)
        return sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in ranges)

    def _owner(self, slot: int) -> int:
        for first, last, port in self.slot_ranges():
            if first <= slot <= last:
                return port
        raise RedisUnavailable(f"no primary serves slot {slot}")

    def primary_port(self, name: str | None = None) -> int:
        """The port of the primary that serves ``name``'s slot (slot 0 without a name)."""
        return self._owner(slot_of(name) if name is not None else 0)

    def primary_ports(self) -> list[int]:
        """Every live primary's port (owning slots or not)."""
        found = []
        for port in self._live_ports():
            role = self._ask(port, "ROLE")
            if isinstance(role, list) and role and role[0] in (b"master", "master"):
                found.append(port)
        return sorted(found)

    def node_id(self, port: int) -> str:
        value = self._ask(port, "CLUSTER", "MYID")
        return value.decode() if isinstance(value, bytes) else str(value)

    def kill_primary(self, name: str | None = None) -> int:
        """SIGKILL the primary serving ``name``'s slot (slot 0 without a name); its port.

        The node stays down (its replica is promoted after ``cluster-node-timeout``) until
        :meth:`restart_node` or :meth:`restart`.
        """
        port = self.primary_port(name)
        node = next(n for n in self.nodes if n.port == port)
        self._killed.add(port)
        node.kill()
        return port

    def restart_node(self, port: int, timeout: float = 10.0) -> None:
        """Bring a killed node back on its port (it rejoins, as a replica if it was replaced)."""
        node = next(n for n in self.nodes if n.port == port)
        node.start(timeout)
        self._killed.discard(port)

    def _stable(self) -> bool:
        live = self._live_ports()
        views = []
        for port in live:
            info = self._ask(port, "CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            if fields.get("cluster_state") != "ok" or fields.get("cluster_slots_ok") != str(SLOTS):
                return False
            views.append(self.slot_ranges(port))
        return all(v == views[0] for v in views) and {r[2] for r in views[0]} <= set(live)

    def wait_stable(self, timeout: float = 30.0) -> None:
        """Until every live node agrees that live primaries serve all 16384 slots."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._stable():
                    return
            except (redis.RedisError, OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"the cluster did not settle within {timeout} s")
            time.sleep(0.1)

    def _wait_replicas_synced(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            synced = 0
            for port in self._live_ports():
                try:
                    text = self._node(port).info("replication")
                except (redis.RedisError, OSError):
                    break
                if text.get("role") == "slave" and text.get("master_link_status") == "up":
                    synced += 1
            if synced >= len(self._live_ports()) - self.primaries:
                return
            if time.monotonic() > deadline:
                raise RedisUnavailable("the cluster's replicas did not sync with their primaries")
            time.sleep(0.1)

    def reshard(self, name: str, to_port: int | None = None, timeout: float = 120.0) -> int:
        """Move ``name``'s slot to another primary with ``redis-cli --cluster reshard``.

        redis-cli moves a source's lowest slots first, so this moves every slot of the owner
        from its first one up to ``name``'s (inclusive). ``to_port`` defaults to the next
        primary. Returns the port that serves ``name`` afterwards.
        """
        slot = slot_of(name)
        source = self._owner(slot)
        count = sum(
            min(last, slot) - first + 1
            for first, last, owner in self.slot_ranges()
            if owner == source and first <= slot
        )
        primaries = [p for p in self.primary_ports() if p != source]
        target = to_port if to_port is not None else primaries[0]
        self._cli("--cluster", "reshard", f"127.0.0.1:{source}",
                  "--cluster-from", self.node_id(source), "--cluster-to", self.node_id(target),
                  "--cluster-slots", str(count), "--cluster-yes",
                  timeout=timeout)  # fmt: skip
        self.wait_stable(timeout)
        return self._owner(slot)

    def __repr__(self) -> str:
        return f"RedisClusterServer(ports={self.ports})"
