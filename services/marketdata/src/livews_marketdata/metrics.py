"""Prometheus metrics of one ingestor instance (prefix ``livews_marketdata_``).

One registry per instance (never the global default), so tests can run several apps in one
process. docs/marketdata.md lists every metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from livews_common.buildinfo import register_build_info
from livews_common.metrics import LATENCY_BUCKETS, new_registry
from livews_common.models import UpstreamState

PREFIX = "livews_marketdata_"
UPSTREAM_STATES: tuple[UpstreamState, ...] = ("up", "degraded", "down")
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class Children:
    """A counter's children by label value, each looked up once (for the per-batch path)."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Counter] = {}

    def get(self, value: str) -> Counter:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = self._counter.labels(value)
        return child


class Metrics:
    """Every metric the ingestor exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else new_registry()
        register_build_info(r, "marketdata", "livews-marketdata")
        p = PREFIX
        self.ticks_in = Counter(
            f"{p}ticks_in", "Updates received from the upstream, by kind (quote, index, depth)",
            ["kind"], registry=r,
        )  # fmt: skip
        self.ticks_out = Counter(
            f"{p}ticks_out", "Ticks and depth updates written to Redis, by kind (tick, depth)",
            ["kind"], registry=r,
        )  # fmt: skip
        self.ticks_dropped = Counter(
            f"{p}ticks_dropped", "Updates dropped before Redis, by reason", ["reason"], registry=r
        )
        self.upstream_state = Gauge(
            f"{p}upstream_state", "1 for the upstream's current state, 0 for the others",
            ["state"], registry=r,
        )  # fmt: skip
        self.reconnects = Counter(
            f"{p}upstream_reconnects", "Upstream connections torn down and rebuilt, by reason",
            ["reason"], registry=r,
        )  # fmt: skip
        self.leader = Gauge(
            f"{p}leader", "1 while this instance holds the leader lease", registry=r
        )
        self.leader_epoch = Gauge(
            f"{p}leader_epoch", "Fencing epoch of this instance's current lease (0: none)",
            registry=r,
        )  # fmt: skip
        self.leader_transitions = Counter(
            f"{p}leader_transitions", "Lease acquisitions and losses", ["event"], registry=r
        )
        self.subscribed = Gauge(
            f"{p}subscribed_symbols", "Symbols subscribed upstream, by kind (quote, depth)",
            ["kind"], registry=r,
        )  # fmt: skip
        self.publish_latency = Histogram(
            f"{p}publish_latency_seconds", "Round-trip of one batch's Redis write",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.publish_batch = Histogram(
            f"{p}publish_batch_size", "Ticks plus depth updates per Redis write",
            buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.exchange_lag = Histogram(
            f"{p}exchange_lag_seconds",
            "ingest_ts - exch_ts of the newest tick of each batch (exch_ts has 1 s resolution)",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_up = Gauge(f"{p}redis_up", "1 while Redis answers", registry=r)
        self.conflated = Gauge(
            f"{p}conflated_pending", "Symbols whose newest value waits for Redis to return",
            registry=r,
        )  # fmt: skip
        self.verdicts = Counter(
            f"{p}symbol_verdicts", "Symbol verdicts published, by outcome", ["ok"], registry=r
        )
        self.token_renew_requests = Counter(
            f"{p}token_renew_requests", "Requests to the auth service to renew the feed token",
            registry=r,
        )  # fmt: skip
        self.token_notices_ignored = Counter(
            f"{p}token_notices_ignored",
            "auth:feed:token notices that came with no change of the stored token",
            registry=r,
        )
        self.set_upstream_state("down")
        self.redis_up.set(0)

    def set_upstream_state(self, state: UpstreamState) -> None:
        for s in UPSTREAM_STATES:
            self.upstream_state.labels(s).set(1 if s == state else 0)
