"""Regenerate the JSON schemas of the Prometheus Operator objects that infra/k8s uses.

kubernetes-validate knows only built-in kinds. For ServiceMonitor and PrometheusRule the tests
use the schemas in crds/, generated from the typed models of the PyPI package
cloudcoil-models-prometheus-operator (themselves generated from the operator's CRDs), made
strict: an object with declared properties accepts no others, as `kubectl apply` would refuse
unknown fields of a structural CRD.

    uv run --no-project --with cloudcoil-models-prometheus-operator==0.80.1.0 \
        python infra/schemas/generate_crd_schemas.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudcoil.models.prometheus_operator import v1

OUT = Path(__file__).resolve().parent / "crds"
KINDS = {"servicemonitor": v1.ServiceMonitor, "prometheusrule": v1.PrometheusRule}


def strict(node: Any) -> Any:
    """Close every object schema that lists its properties (maps keep additionalProperties)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for item in node:
            strict(item)
    return node


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, model in KINDS.items():
        schema = strict(model.model_json_schema(by_alias=True))
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"monitoring.coreos.com/v1 {model.__name__}"
        path = OUT / f"{name}-monitoring-v1.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
