"""Turn upstream CustomResourceDefinitions into the JSON schemas tests/infra validates with.

Used for the Gateway API kinds (Gateway, HTTPRoute), for which no typed-model package covers
the CRDs as generate_crd_schemas.py does for the others. A CRD's `openAPIV3Schema` is already
JSON Schema apart from Kubernetes' own `x-kubernetes-*` keywords (which a JSON Schema validator
ignores, CEL rules included); this keeps the schema of one served version, closes every object
that lists its properties (as a structural CRD refuses unknown fields on `kubectl apply`) and
writes it to crds/<kind>-<group's first label>-<version>.json.

    python infra/schemas/crd_to_schema.py v1 gateway.networking.k8s.io_gateways.yaml \\
        gateway.networking.k8s.io_httproutes.yaml

The input files are those of the Gateway API release's `config/crd/standard/` directory (the
same documents as its `standard-install.yaml`; pass that file instead and every CRD in it is
converted).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "crds"


def strict(node: Any) -> Any:
    """Close every object schema that lists its properties, unless Kubernetes keeps unknown
    fields there (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(node, dict):
        keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for item in node:
            strict(item)
    return node


def convert(crd: dict[str, Any], version: str) -> tuple[str, dict[str, Any]]:
    spec = crd["spec"]
    served = {v["name"]: v for v in spec["versions"] if v.get("served")}
    if version not in served:
        raise SystemExit(f"{crd['metadata']['name']}: version {version} is not served")
    schema = strict(served[version]["schema"]["openAPIV3Schema"])
    schema.pop("description", None)
    kind, group = spec["names"]["kind"], spec["group"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    bundle = crd["metadata"].get("annotations", {}).get("gateway.networking.k8s.io/bundle-version")
    schema["title"] = f"{group}/{version} {kind}" + (f" (bundle {bundle})" if bundle else "")
    stem = f"{kind.lower()}-{group.split('.')[0]}-{version}"
    return stem, schema


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    version, files = argv[0], argv[1:]
    OUT.mkdir(exist_ok=True)
    for name in files:
        for doc in yaml.safe_load_all(Path(name).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            stem, schema = convert(doc, version)
            path = OUT / f"{stem}.json"
            path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:])
