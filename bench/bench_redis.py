"""Redis-side capacity: tick publishing and fan-out on one Redis versus a 3-shard Cluster.

What it emulates: an ingestor publishing ticks on ``CHANNELS`` tick channels
(``md:tick:<symbol>``, a ``PAYLOAD_BYTES`` Tick JSON each) and ``GATEWAYS`` gateways, each
subscribed to every channel — on one Redis with ``PUBLISH``/``SUBSCRIBE``, on a local 3×2
Cluster (``livews_devtools.redis_cluster``) with ``SPUBLISH``/``SSUBSCRIBE`` (each gateway
keeps one sharded subscription per shard, as the gateway does). Every delivered message is
one fan-out message, so fan-out messages/s = published ticks/s × gateways.

The load is raw RESP on plain sockets (pre-encoded pipelines, replies counted by size), so the
Python side costs little next to Redis. Two phases per topology:

- *paced*: ``PACED_RATE`` ticks/s offered; each Redis process's CPU (``/proc/<pid>/stat``)
  gives the CPU per 10,000 published ticks/s, from which the rate where that process would
  be at 100 % of a core (its main thread saturated) follows;
- *flat out*: as fast as Redis takes it; the achieved published and fan-out rates, and CPU.

On this 2-core machine, shared with the load generator and the subscribers (and with other
work), the flat-out Cluster figure is bounded by the machine, not by the three shards: the
per-shard CPU and the extrapolated saturation rate are the figures to compare.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import redis
from _results import write_result

from livews_common import redis_acl
from livews_devtools.redis_cluster import RedisClusterServer, slot_of
from livews_devtools.redis_server import RedisServer

CHANNELS = 200
PAYLOAD_BYTES = 300
PACED_RATE = 20_000.0
PHASE_S = 6.0
BATCH = 200
GATEWAY_COUNTS = (4, 16)


def resp(*args: bytes | str) -> bytes:
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def channel_names() -> list[str]:
    return [f"md:tick:NSE:SYM{i:04d}-EQ" for i in range(CHANNELS)]


def cpu_seconds(port: int, password: str) -> float:
    """The server's user + system CPU so far (INFO CPU: getrusage, microsecond precision)."""
    client = redis.Redis(port=port, username=redis_acl.ADMIN, password=password)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def signed_in(port: int, password: str, user: str = redis_acl.ADMIN) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(10.0)  # a refusal or a wrong reply count fails instead of hanging
    sock.sendall(resp("AUTH", user, password))
    if not sock.recv(64).startswith(b"+OK"):
        raise RuntimeError(f"AUTH refused on :{port}")
    return sock


@dataclass
class Subscriber:
    """One gateway's subscription to ``channels`` on one node: drains and counts messages."""

    port: int
    password: str
    channels: list[str]
    sharded: bool
    received: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.sock = signed_in(self.port, self.password, redis_acl.GATEWAY)
        if self.sharded:  # one SSUBSCRIBE per channel: one command's channels share a slot
            self.sock.sendall(b"".join(resp("SSUBSCRIBE", c) for c in self.channels))
        else:
            self.sock.sendall(resp("SUBSCRIBE", *self.channels))
        confirm = b"s" + b"subscribe" if self.sharded else b"subscribe"
        got = b""
        while got.count(confirm) < len(self.channels):  # one confirmation per channel
            got += self.sock.recv(65536)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        kind = b"smessage" if self.sharded else b"message"
        tail = b""
        while not self._stop.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            chunk = tail + data
            self.received += chunk.count(kind)
            tail = chunk[-len(kind) :]

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


class Publisher:
    """Pipelined PUBLISH/SPUBLISH of one tick per channel in turn, to one node."""

    def __init__(self, port: int, password: str, channels: list[str], sharded: bool) -> None:
        payload = (b'{"symbol":"NSE:SYM","ltp":1234.5,"seq":1,' + b"x" * PAYLOAD_BYTES)[
            :PAYLOAD_BYTES
        ]
        verb = "SPUBLISH" if sharded else "PUBLISH"
        commands = [resp(verb, channels[i % len(channels)], payload) for i in range(BATCH)]
        self.batch = b"".join(commands)
        self.sock = signed_in(port, password)
        self.sent = 0
        self.errors = 0

    def send_batch(self) -> None:
        self.sock.sendall(self.batch)
        need, got = BATCH, 0
        buf = b""
        while got < need:
            buf += self.sock.recv(65536)
            got = buf.count(b"\r\n")
        self.errors += buf.count(b"-")
        self.sent += BATCH


@dataclass
class Topology:
    name: str
    ports: dict[str, int]  # role name -> redis-server port ("primary", "shard1", "replica1"…)
    password: str  # the admin's
    publishers: list[Publisher]
    subscribers: list[Subscriber]


def _drive(top: Topology, rate: float | None, seconds: float) -> dict[str, float]:
    """Publish for ``seconds`` at ``rate`` ticks/s (None: flat out) from one thread per node."""
    stop = time.monotonic() + seconds
    sent0 = sum(p.sent for p in top.publishers)
    recv0 = sum(s.received for s in top.subscribers)
    cpu0 = {n: cpu_seconds(port, top.password) for n, port in top.ports.items()}
    began = time.monotonic()

    def run(pub: Publisher, share: float | None) -> None:
        interval = BATCH / share if share else 0.0
        due = time.monotonic()
        while time.monotonic() < stop:
            pub.send_batch()
            if interval:
                due += interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    share = rate / len(top.publishers) if rate else None
    threads = [threading.Thread(target=run, args=(p, share)) for p in top.publishers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)  # the last messages reach the subscribers
    elapsed = time.monotonic() - began
    published = (sum(p.sent for p in top.publishers) - sent0) / (elapsed - 0.3)
    delivered = (sum(s.received for s in top.subscribers) - recv0) / (elapsed - 0.3)
    out = {"published": published, "delivered": delivered}
    for n, port in top.ports.items():
        out[f"cpu_{n}"] = 100.0 * (cpu_seconds(port, top.password) - cpu0[n]) / elapsed
    return out


@contextmanager
def single(gateways: int) -> Iterator[Topology]:
    with RedisServer() as server:
        names = channel_names()
        password = server.passwords()
        subs = [Subscriber(server.port, password[redis_acl.GATEWAY], names, False)
                for _ in range(gateways)]  # fmt: skip
        for s in subs:
            s.start()
        pubs = [Publisher(server.port, server.admin_password, names, False)]
        try:
            yield Topology("single", {"primary": server.port}, server.admin_password, pubs, subs)
        finally:
            for s in subs:
                s.stop()


@contextmanager
def cluster(gateways: int) -> Iterator[Topology]:
    with RedisClusterServer() as server:
        password = server.passwords()
        by_owner: dict[int, list[str]] = {}
        ranges = server.slot_ranges()
        for name in channel_names():
            slot = slot_of(name)
            owner = next(p for first, last, p in ranges if first <= slot <= last)
            by_owner.setdefault(owner, []).append(name)
        ports = {f"shard{i}": port for i, port in enumerate(sorted(by_owner), 1)}
        replicas = [n.port for n in server.nodes if n.port not in by_owner]
        ports |= {f"replica{i}": port for i, port in enumerate(replicas, 1)}
        subs = [Subscriber(port, password[redis_acl.GATEWAY], chans, True)
                for port, chans in by_owner.items() for _ in range(gateways)]  # fmt: skip
        for s in subs:
            s.start()
        pubs = [Publisher(port, server.admin_password, chans, True)
                for port, chans in by_owner.items()]  # fmt: skip
        try:
            yield Topology("cluster", ports, server.admin_password, pubs, subs)
        finally:
            for s in subs:
                s.stop()


def run_topology(
    factory: Callable[[int], AbstractContextManager[Topology]], gateways: int
) -> tuple[dict[str, float], dict[str, float]]:
    with factory(gateways) as top:
        _drive(top, PACED_RATE / 4, 1.0)  # warm-up
        paced = _drive(top, PACED_RATE, PHASE_S)
        flat = _drive(top, None, PHASE_S)
        errors = sum(p.errors for p in top.publishers)
        if errors:
            raise RuntimeError(f"{top.name}: {errors} publish errors")
    return paced, flat


def per_10k(cpu: float, published: float) -> float:
    return cpu * 10_000 / published


def measure(gateways: int) -> dict[str, tuple[float, str]]:
    """Both topologies with ``gateways`` subscribers; metric names end in ``_g<gateways>``."""
    one_paced, one_flat = run_topology(single, gateways)
    many_paced, many_flat = run_topology(cluster, gateways)
    shard_keys = ["cpu_shard1", "cpu_shard2", "cpu_shard3"]
    replica_keys = [k for k in many_paced if k.startswith("cpu_replica")]
    single_per_10k = per_10k(one_paced["cpu_primary"], one_paced["published"])
    # Each shard carries its own channels; the busiest shard saturates first.
    shard_cpu = [many_paced[k] for k in shard_keys]
    cluster_per_10k = per_10k(sum(shard_cpu), many_paced["published"])
    busiest = max(shard_cpu) / sum(shard_cpu)
    single_sat = 100.0 * 10_000 / single_per_10k
    cluster_sat = 100.0 * 10_000 / cluster_per_10k / busiest
    metrics: dict[str, tuple[float, str]] = {
        "single_paced_published": (one_paced["published"], "ticks/s"),
        "single_paced_cpu": (one_paced["cpu_primary"], "% of a core"),
        "single_cpu_per_10k": (single_per_10k, "% of a core per 10,000 ticks/s"),
        "single_saturation_published": (single_sat, "ticks/s at 100 % of a core (extrapolated)"),
        "single_saturation_fanout": (single_sat * gateways, "messages/s at 100 % (extrapolated)"),
        "single_flat_published": (one_flat["published"], "ticks/s"),
        "single_flat_fanout": (one_flat["delivered"], "messages/s"),
        "single_flat_cpu": (one_flat["cpu_primary"], "% of a core"),
        "cluster_paced_published": (many_paced["published"], "ticks/s"),
        "cluster_paced_shard_cpu_max": (max(shard_cpu), "% of a core"),
        "cluster_paced_shard_cpu_min": (min(shard_cpu), "% of a core"),
        "cluster_paced_replica_cpu_max": (
            max((many_paced[k] for k in replica_keys), default=0.0), "% of a core"),
        "cluster_cpu_per_10k": (cluster_per_10k, "% of a core per 10,000 ticks/s, 3 shards"),
        "cluster_busiest_shard_share": (100.0 * busiest, "% of the shards' CPU on the busiest"),
        "cluster_saturation_published": (
            cluster_sat, "ticks/s when the busiest shard is at 100 % (extrapolated)"),
        "cluster_saturation_fanout": (
            cluster_sat * gateways, "messages/s then (extrapolated)"),
        "cluster_flat_published": (many_flat["published"], "ticks/s"),
        "cluster_flat_fanout": (many_flat["delivered"], "messages/s"),
        "cluster_flat_shard_cpu_max": (max(many_flat[k] for k in shard_keys), "% of a core"),
        "cluster_flat_shard_cpu_min": (min(many_flat[k] for k in shard_keys), "% of a core"),
        "saturation_ratio": (cluster_sat / single_sat, "x (Cluster over one Redis)"),
    }  # fmt: skip
    return {f"{k}_g{gateways}": v for k, v in metrics.items()}


def main() -> int:
    metrics: dict[str, tuple[float, str]] = {
        "channels": (CHANNELS, "tick channels"),
        "payload_bytes": (PAYLOAD_BYTES, "bytes per tick"),
        "paced_rate": (PACED_RATE, "ticks/s offered in the paced phase"),
    }
    for gateways in GATEWAY_COUNTS:
        metrics |= measure(gateways)
    metrics["load_avg"] = (os.getloadavg()[0], "1-minute load average at the end")
    notes = (
        f"{os.cpu_count()} CPUs shared by Redis, the load generator, the subscribers and other "
        "work: flat-out rates are bounded by the machine (the Python load generator), not by "
        "Redis; the saturation rates extrapolate each Redis process's CPU per published tick "
        "(INFO CPU over the paced phase) to one full core. _g<N>: N gateways subscribed to "
        "every channel (on the Cluster, one sharded subscription per shard each)."
    )
    write_result("redis", metrics, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
