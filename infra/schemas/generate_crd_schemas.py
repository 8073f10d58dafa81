"""Regenerate the JSON schemas of the custom objects that infra/k8s uses, from typed models.

kubernetes-validate knows only built-in kinds. For the Prometheus Operator's ServiceMonitor and
PrometheusRule, cert-manager's ClusterIssuer and Certificate, and KEDA's ScaledObject, the tests
use the schemas in crds/, generated from the typed models of the PyPI packages
cloudcoil-models-prometheus-operator, cloudcoil-models-cert-manager and cloudcoil-models-keda
(themselves generated from each project's CRDs), made strict: an object with declared
properties accepts no others, as `kubectl apply` would refuse unknown fields of a structural
CRD. (The Gateway API kinds come from the upstream CRDs instead: crd_to_schema.py.)

    uv run --no-project --with cloudcoil-models-prometheus-operator==0.80.1.0 \
        --with cloudcoil-models-cert-manager==1.17.1.0 --with cloudcoil-models-keda==2.16.1.0 \
        python infra/schemas/generate_crd_schemas.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudcoil.models.cert_manager import v1 as cert_manager_v1
from cloudcoil.models.keda import v1alpha1 as keda_v1alpha1
from cloudcoil.models.prometheus_operator import v1

OUT = Path(__file__).resolve().parent / "crds"
#: file stem -> (apiVersion, model)
KINDS: dict[str, tuple[str, Any]] = {
    "servicemonitor-monitoring-v1": ("monitoring.coreos.com/v1", v1.ServiceMonitor),
    "prometheusrule-monitoring-v1": ("monitoring.coreos.com/v1", v1.PrometheusRule),
    "clusterissuer-cert-manager-v1": ("cert-manager.io/v1", cert_manager_v1.ClusterIssuer),
    "certificate-cert-manager-v1": ("cert-manager.io/v1", cert_manager_v1.Certificate),
    "scaledobject-keda-v1alpha1": ("keda.sh/v1alpha1", keda_v1alpha1.ScaledObject),
}


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
    for stem, (api_version, model) in KINDS.items():
        schema = strict(model.model_json_schema(by_alias=True))
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"{api_version} {model.__name__}"
        path = OUT / f"{stem}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
