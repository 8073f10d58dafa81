"""Prometheus helpers: one registry per service instance, never the global default.

A per-instance registry keeps tests independent (no global state to reset) and lets two
apps live in one process.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)

#: Latency buckets (seconds) tuned for a real-time path: 0.5 ms … 5 s.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0
)  # fmt: skip

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def new_registry(*, process: bool = True) -> CollectorRegistry:
    """A fresh registry; with ``process``, it also reports this process's memory, CPU and fds."""
    registry = CollectorRegistry(auto_describe=True)
    if process:
        ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format, for a ``GET /metrics`` response body."""
    return generate_latest(registry)
