"""Write livews.json, the LiveWebsocket Grafana dashboard, from the panel list below.

The JSON is what Grafana loads (compose provisioning, or import it into any Grafana); this
script is how it is edited, so that panels stay consistent (one data source variable, units,
legends, layout). tests/infra checks the two are in sync and that every metric a panel
queries is one the services export.

    uv run python infra/observability/grafana/build_dashboard.py
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "livews.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
FLEET = 'job=~"auth|gateway|marketdata"'
#: Every selector gets this matcher: the dashboard shows one namespace (or all) at a time.
#: ``.*`` (All) also matches series without the label, as under docker-compose.
NAMESPACE = 'namespace=~"$namespace"'
_SELECTOR = re.compile(
    r"(?P<name>\b(?:livews_[a-z0-9_]+|process_[a-z0-9_]+|up)\b)(?P<sel>\{[^}]*\})?"
    r'|(?P<skip>\{[^}]*\}|"[^"]*")'
)


def scoped(expr: str) -> str:
    """``expr`` with the namespace matcher added to every series selector in it."""

    def add(match: re.Match[str]) -> str:
        if match.group("skip"):
            return match.group(0)
        inner = (match.group("sel") or "{}")[1:-1]
        return f"{match.group('name')}{{{inner + ', ' if inner else ''}{NAMESPACE}}}"

    return _SELECTOR.sub(add, expr)


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Q, ...]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 8


def p99(metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.99, sum by ({group}) (rate({metric}_bucket[$__rate_interval])))"


def quantiles(metric: str) -> tuple[Q, ...]:
    return tuple(
        Q(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[$__rate_interval])))",
          f"p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    )  # fmt: skip


ROWS: list[tuple[str, list[Panel]]] = [
    ("Overview", [
        Panel("Upstream up", (Q('sum(livews_marketdata_upstream_state{state="up"})'),),
              kind="stat", width=4,
              description="1 when an ingestor holds a working Fyers data socket."),
        Panel("Leaders", (Q("sum(livews_marketdata_leader)"),), kind="stat", width=4,
              description="Ingestors holding the lease: exactly 1 is healthy."),
        Panel("Connections", (Q("sum(livews_gateway_connections)"),), kind="stat", width=4),
        Panel("Gateways up", (Q('count(up{job="gateway"} == 1)'),), kind="stat", width=4),
        Panel("Ticks in / s", (Q("sum(rate(livews_marketdata_ticks_in_total[$__rate_interval]))"),),
              kind="stat", width=4),
        Panel("Feed token expires in", (Q("min(livews_auth_feed_token_ttl_seconds)"),),
              unit="s", kind="stat", width=4,
              description="Time left on the feed account's Fyers token (daily rollover)."),
    ]),
    ("Ingestor (marketdata)", [
        Panel("Updates in / out / dropped", (
            Q("sum by (kind) (rate(livews_marketdata_ticks_in_total[$__rate_interval]))",
              "in {{kind}}"),
            Q("sum by (kind) (rate(livews_marketdata_ticks_out_total[$__rate_interval]))",
              "out {{kind}}"),
            Q("sum by (reason) (rate(livews_marketdata_ticks_dropped_total[$__rate_interval]))",
              "dropped {{reason}}"),
        ), unit="ops"),
        Panel("Upstream state", (
            Q("livews_marketdata_upstream_state == 1", "{{instance}} {{state}}"),
            Q("livews_marketdata_leader", "{{instance}} leader"),
        )),
        Panel("Upstream reconnects", (
            Q("sum by (reason) (increase(livews_marketdata_upstream_reconnects_total[5m]))",
              "{{reason}}"),
        )),
        Panel("Publish latency (Redis write)",
              quantiles("livews_marketdata_publish_latency_seconds"), unit="s"),
        Panel("Exchange → ingest lag", quantiles("livews_marketdata_exchange_lag_seconds"),
              unit="s", description="exch_ts has 1 s resolution: read trends, not single values."),
        Panel("Symbols subscribed upstream", (
            Q("max by (kind) (livews_marketdata_subscribed_symbols)", "{{kind}}"),
        )),
    ]),
    ("Gateways", [
        Panel("Connections per gateway", (Q("livews_gateway_connections", "{{instance}}"),),
              description="The autoscaler's per-pod target is 2000."),
        Panel("Share of the connection limit", (
            Q("livews_gateway_connections / livews_gateway_max_connections", "{{instance}}"),
        ), unit="percentunit",
              description="Against GATEWAY_MAX_CONNECTIONS; LivewsGatewayNearCapacity at 90 %."),
        Panel("Subscriptions and rooms", (
            Q("sum by (mode) (livews_gateway_subscriptions)", "subscriptions {{mode}}"),
            Q("sum by (mode) (livews_gateway_rooms)", "rooms {{mode}}"),
        )),
        Panel("Fan-out latency (ingest → socket write)",
              quantiles("livews_gateway_fanout_latency_seconds"), unit="s",
              description="Alert LivewsGatewayFanoutSlow: p99 above 250 ms for 5 min."),
        Panel("Frames and ticks out / s", (
            Q("sum by (event) (rate(livews_gateway_frames_out_total[$__rate_interval]))",
              "frames {{event}}"),
            Q("sum by (mode) (rate(livews_gateway_ticks_out_total[$__rate_interval]))",
              "ticks {{mode}}"),
            Q("sum(rate(livews_gateway_conflated_ticks_total[$__rate_interval]))", "conflated"),
        ), unit="ops"),
        Panel("Server disconnects / s", (
            Q("sum by (code) (rate(livews_gateway_server_disconnects_total[$__rate_interval]))",
              "{{code}}"),
            Q("sum(rate(livews_gateway_slow_consumer_disconnects_total[$__rate_interval]))",
              "slow consumers"),
        ), unit="ops"),
        Panel("Refused tokens / s", (
            Q("sum by (reason) (rate(livews_gateway_auth_failures_total[$__rate_interval]))",
              "{{reason}}"),
        ), unit="ops"),
        Panel("Redis and drain", (
            Q("livews_gateway_redis_up", "{{instance}} redis up"),
            Q("livews_gateway_draining", "{{instance}} draining"),
        )),
        Panel("Batching window", (Q("livews_gateway_flush_window_seconds", "{{instance}}"),),
              unit="s"),
    ]),
    ("Auth", [
        Panel("Logins", (
            Q("sum by (result) (increase(livews_auth_logins_total[5m]))", "{{result}}"),
        )),
        Panel("Tokens and sessions", (
            Q("sum(rate(livews_auth_tokens_issued_total[$__rate_interval]))", "access tokens"),
            Q("sum by (reason) (rate(livews_auth_sessions_revoked_total[$__rate_interval]))",
              "revoked {{reason}}"),
            Q("sum(rate(livews_auth_refresh_reuse_detected_total[$__rate_interval]))",
              "refresh reuse"),
            Q("sum by (bucket) (rate(livews_auth_rate_limited_total[$__rate_interval]))",
              "429 {{bucket}}"),
        ), unit="ops"),
        Panel("Fyers call latency p99", (
            Q(p99("livews_auth_fyers_request_seconds", "call"), "{{call}}"),
        ), unit="s"),
        Panel("HTTP requests / s", (
            Q("sum by (route, status) (rate(livews_auth_http_requests_total"
              "[$__rate_interval]))", "{{route}} {{status}}"),
        ), unit="ops", description="By route template; unmatched paths share route=unmatched."),
        Panel("HTTP latency p99", (
            Q(p99("livews_auth_http_request_duration_seconds", "route"), "{{route}}"),
        ), unit="s"),
        Panel("Feed token", (
            Q("min(livews_auth_feed_ok)", "renewable (feed_ok)"),
            Q("sum by (result) (increase(livews_auth_feed_renewals_total[1h]))",
              "renewals {{result}}"),
        )),
    ]),
    ("Processes", [
        Panel("CPU", (
            Q(f"sum by (job, instance) (rate(process_cpu_seconds_total{{{FLEET}}}"
              "[$__rate_interval]))", "{{job}} {{instance}}"),
        ), unit="percentunit"),
        Panel("Resident memory", (
            Q(f"process_resident_memory_bytes{{{FLEET}}}", "{{job}} {{instance}}"),
        ), unit="bytes"),
        Panel("Open file descriptors", (
            Q(f"process_open_fds{{{FLEET}}}", "{{job}} {{instance}}"),
        )),
    ]),
]  # fmt: skip


def panel_json(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    height = 4 if panel.kind == "stat" else 8
    body: dict[str, Any] = {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {"datasource": DS, "expr": scoped(q.expr), "legendFormat": q.legend or "__auto",
             "refId": chr(ord("A") + i)}
            for i, q in enumerate(panel.queries)
        ],
    }  # fmt: skip
    if panel.kind == "stat":
        body["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    else:
        body["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                           "tooltip": {"mode": "multi"}}  # fmt: skip
    return body


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})  # fmt: skip
        pid, y, x = pid + 1, y + 1, 0
        row_height = 0
        for panel in row:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            body = panel_json(panel, pid, x, y)
            panels.append(body)
            row_height = max(row_height, body["gridPos"]["h"])
            pid, x = pid + 1, x + panel.width
        y += row_height
    return {
        "uid": "livews-overview",
        "title": "LiveWebsocket",
        "description": "Upstream, ingestor, gateways, auth. Alerts: docs/operations.md.",
        "tags": ["livews"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {"text": "Prometheus", "value": "prometheus"},
        }, {
            # Every service exports livews_build_info: its namespaces are the fleets.
            "name": "namespace", "label": "Namespace", "type": "query", "datasource": DS,
            "query": {"query": "label_values(livews_build_info, namespace)",
                      "refId": "namespace"},
            "definition": "label_values(livews_build_info, namespace)",
            "refresh": 2, "sort": 1, "includeAll": True, "allValue": ".*", "multi": False,
            "current": {"text": "All", "value": "$__all"},
        }]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }  # fmt: skip


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
