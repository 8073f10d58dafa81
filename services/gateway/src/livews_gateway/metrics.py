"""Prometheus metrics of one gateway process (prefix ``livews_gateway_``).

The hot path never touches a lock per tick: counters are bumped once per flush with the
flush's totals, the latency histogram is a plain bucket array (:class:`BucketHistogram`)
exported by a collector, and the gauges (connections, subscriptions, rooms) are read from
the live structures when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric

from livews_common.buildinfo import register_build_info
from livews_common.metrics import LATENCY_BUCKETS, new_registry

PREFIX = "livews_gateway_"


class BucketHistogram:
    """A histogram without locks, for one event loop: ``observe`` is a bisect and an add."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(buckets)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float, count: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += count
        self.total += value * count

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            cumulative.append((repr(bound), running))
        cumulative.append(("+Inf", running + self.counts[-1]))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=self.total)


@dataclass
class LiveCounts:
    """Gauges read at scrape time."""

    connections: int = 0
    subscriptions: dict[str, int] = field(default_factory=dict)  # mode → count
    rooms: dict[str, int] = field(default_factory=dict)  # mode → count
    flush_window_seconds: float = 0.0
    redis_up: bool = False
    draining: bool = False


class _LiveCollector:
    def __init__(self, read: Callable[[], LiveCounts], latency: BucketHistogram) -> None:
        self._read = read
        self._latency = latency

    def collect(self) -> Iterable[Metric]:
        live = self._read()
        yield GaugeMetricFamily(
            PREFIX + "connections", "Open client connections.", live.connections
        )
        subs = GaugeMetricFamily(
            PREFIX + "subscriptions", "Subscriptions held by clients.", labels=["mode"]
        )
        rooms = GaugeMetricFamily(
            PREFIX + "rooms", "Rooms (symbol, mode) with at least one member.", labels=["mode"]
        )
        for mode in ("quote", "depth", "bars"):
            subs.add_metric([mode], live.subscriptions.get(mode, 0))
            rooms.add_metric([mode], live.rooms.get(mode, 0))
        yield subs
        yield rooms
        yield GaugeMetricFamily(
            PREFIX + "flush_window_seconds",
            "Current batching window (widens under load).",
            live.flush_window_seconds,
        )
        yield GaugeMetricFamily(PREFIX + "redis_up", "1 when Redis is usable.", int(live.redis_up))
        yield GaugeMetricFamily(PREFIX + "draining", "1 while shutting down.", int(live.draining))
        yield self._latency.family(
            PREFIX + "fanout_latency_seconds",
            "Oldest tick of each frame sent: ingest_ts to the write on the client's socket.",
        )


class GatewayMetrics:
    """Every metric the gateway exports, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        r = self.registry
        register_build_info(r, "gateway", "livews-gateway")
        self.latency = BucketHistogram()
        self.frames_out = Counter(
            PREFIX + "frames_out", "Socket.IO frames written to clients.", ["event"], registry=r
        )
        self.ticks_out = Counter(
            PREFIX + "ticks_out", "Ticks (and depth updates) delivered to clients.", ["mode"],
            registry=r,
        )  # fmt: skip
        self.conflated = Counter(
            PREFIX + "conflated_ticks",
            "Ticks replaced by a newer one for a client that fell behind.",
            registry=r,
        )
        self.flushes = Counter(PREFIX + "flushes", "Flushes that wrote frames.", registry=r)
        self.flush_seconds = Counter(
            PREFIX + "flush_seconds", "Wall time spent flushing.", registry=r
        )
        self.flush_cpu_seconds = Counter(
            PREFIX + "flush_cpu_seconds",
            "Process CPU time spent flushing (wall time well above it means CPU contention).",
            registry=r,
        )
        self.slow_consumers = Counter(
            PREFIX + "slow_consumer_disconnects", "Clients cut off as slow consumers.", registry=r
        )
        self.auth_failures = Counter(
            PREFIX + "auth_failures", "Refused tokens, by reason.", ["reason"], registry=r
        )
        self.disconnects = Counter(
            PREFIX + "server_disconnects", "Server-initiated disconnects by bye code.", ["code"],
            registry=r,
        )  # fmt: skip
        self.connects = Counter(PREFIX + "connects", "Accepted connections.", registry=r)
        self.refused_handshakes = Counter(
            PREFIX + "refused_handshakes",
            "Websocket/polling handshakes refused before Socket.IO (draining, full, "
            "address_connections, address_rate).",
            ["reason"],
            registry=r,
        )
        self.inbound_refused = Counter(
            PREFIX + "inbound_refused",
            "Inbound messages dropped (rate) or connections closed by the transport (binary, "
            "rate_close, deadline, refused, left).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.pending_closed = Counter(
            PREFIX + "pending_closed",
            "Sessions closed before an authorized connect (deadline, evicted).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.pending_sessions = Gauge(
            PREFIX + "pending_sessions", "Open sessions not yet authorized.", registry=r
        )
        self.requests = Counter(
            PREFIX + "requests", "Client requests by event and result code.", ["event", "result"],
            registry=r,
        )  # fmt: skip
        self.messages_in = Counter(
            PREFIX + "redis_messages", "Pub/sub messages received, by kind.", ["kind"], registry=r
        )
        self.bad_messages = Counter(
            PREFIX + "redis_bad_messages", "Pub/sub messages that failed to decode.", registry=r
        )
        self.seq_jumps = Counter(
            PREFIX + "seq_jumps",
            "Messages and stored values ignored for an absurd seq (above the limit, or too far "
            "from the room's last one).",
            registry=r,
        )
        self.quota_refusals = Counter(
            PREFIX + "quota_refusals",
            "Refused by a per-user quota: connections, symbols (slots), probes (symbols).",
            ["quota"],
            registry=r,
        )
        self.quota_errors = Counter(
            PREFIX + "quota_errors", "Quota checks that could not reach Redis (allowed).",
            registry=r,
        )  # fmt: skip
        self.redis_reconnects = Counter(
            PREFIX + "redis_reconnects", "Times the Redis subscriber connection was re-made.",
            registry=r,
        )  # fmt: skip
        self.demand_publishes = Counter(
            PREFIX + "demand_publishes", "Demand records written for the ingestor.", registry=r
        )
        self.verdict_waits = Counter(
            PREFIX + "verdict_waits", "Subscribes that waited for a symbol verdict, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.info = Gauge(PREFIX + "info", "Static facts.", ["instance"], registry=r)
        self.max_connections = Gauge(
            PREFIX + "max_connections",
            "GATEWAY_MAX_CONNECTIONS: authorized connections this process accepts.",
            registry=r,
        )

    def watch_pending(self, read: Callable[[], int]) -> None:
        """Read the pending-session count at scrape time."""
        self.pending_sessions.set_function(read)

    def watch(self, read: Callable[[], LiveCounts]) -> None:
        """Export the live gauges (and the latency histogram) from ``read``."""
        self.registry.register(_LiveCollector(read, self.latency))
