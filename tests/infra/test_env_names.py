"""Every environment variable that docker-compose.yml and the Kubernetes manifests give a
process is one that process reads: a misspelt name would be silently ignored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

#: compose service / k8s workload -> source trees whose variables that process reads
SOURCES = {
    "auth": ("services/auth/src", "libs/common/src"),
    "gateway": ("services/gateway/src", "libs/common/src"),
    "marketdata": ("services/marketdata/src", "libs/common/src"),
    "fyers-emulator": ("tools/fyers-emulator/src",),
}
NAME = re.compile(r"""["']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["']""")


def read_names(root: Path, service: str) -> set[str]:
    names: set[str] = set()
    for tree in SOURCES[service]:
        for path in (root / tree).rglob("*.py"):
            names |= set(NAME.findall(path.read_text()))
    # Names built as f"{name}_FILE" by the secret readers.
    return names | {f"{n}_FILE" for n in names}


def check(root: Path, service: str, variables: set[str], where: str) -> None:
    if not (root / SOURCES[service][0]).is_dir():
        pytest.skip(f"{service} has no sources yet")
    unknown = variables - read_names(root, service)
    assert not unknown, f"{where}: {service} reads none of {sorted(unknown)}"


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_compose_sets_only_variables_the_service_reads(infra: Any, service: str) -> None:
    compose = infra.load_yaml(infra.root / "docker-compose.yml")["services"]
    for name in (service, f"{service}-standby"):
        if name in compose:
            variables = set(compose[name].get("environment", {}))
            check(infra.root, service, variables, f"compose {name}")


@pytest.mark.parametrize("overlay", ("dev", "prod"))
def test_manifests_set_only_variables_the_service_reads(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    config = set(infra.by_kind(objects, "ConfigMap")["livews-config"]["data"])
    for name, pod in infra.pod_specs(objects):
        if name not in SOURCES:
            continue
        container = pod["containers"][0]
        variables = {e["name"] for e in container.get("env", [])}
        if container.get("envFrom"):
            # The shared ConfigMap is read by several services: each name by at least one.
            variables |= config & read_names(infra.root, name)
        check(infra.root, name, variables, f"{overlay} {name}")


def test_every_shared_config_entry_is_read_by_someone(infra: Any) -> None:
    readers = set().union(*(read_names(infra.root, s) for s in ("auth", "gateway", "marketdata")))
    for overlay in ("dev", "prod"):
        config = set(infra.by_kind(infra.render(overlay), "ConfigMap")["livews-config"]["data"])
        assert config <= readers, f"{overlay}: nobody reads {sorted(config - readers)}"
