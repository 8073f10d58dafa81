"""Write infra/k8s/base/prometheusrule.yaml from prometheus/alerts.yml.

The alert rules have one source, prometheus/alerts.yml (loaded as-is by the compose
Prometheus and checked by promtool). Kubernetes with the Prometheus Operator needs the same
groups inside a PrometheusRule object; this script wraps them. tests/infra checks that the two
never drift apart.

    uv run python infra/observability/sync_prometheusrule.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "prometheus" / "alerts.yml"
TARGET = HERE.parent / "k8s" / "base" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from infra/observability/prometheus/alerts.yml by
# infra/observability/sync_prometheusrule.py — edit alerts.yml, then run the script.
"""


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule object carrying exactly the groups of ``alerts``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "livews", "labels": {"release": "kube-prometheus-stack"}},
        "spec": {"groups": alerts["groups"]},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the generated file stays readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    alerts = yaml.safe_load(ALERTS.read_text())
    body = yaml.dump(prometheus_rule(alerts), Dumper=_Dumper, sort_keys=False, width=100)
    return HEADER + body


def main() -> int:
    TARGET.write_text(render())
    sys.stdout.write(f"wrote {TARGET}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
