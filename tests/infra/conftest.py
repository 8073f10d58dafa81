"""Shared helpers for the offline infrastructure tests: the repository's paths, the external
tools they drive (kubectl, nginx, promtool), and rendered kustomize overlays.

Test modules reach them through the `infra` fixture (with --import-mode=importlib a test
module cannot import this conftest).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
OVERLAYS = ("dev", "prod", "prod-green", "prod-live-green", "prod-gateway-api", "prod-keda")
#: The full-fleet overlays (prod-green holds only the green gateway workload).
FLEET_OVERLAYS = ("dev", "prod", "prod-live-green", "prod-gateway-api", "prod-keda")


def tool(name: str, apt_package: str) -> str:
    """Path of an external tool; a failure in CI (it must be installed there), a skip elsewhere."""
    # Tools the Makefile installs for itself (uv into .tools/) count as installed.
    found = shutil.which(name) or shutil.which(name, path=str(ROOT / ".tools" / "bin"))
    if found:
        return found
    message = f"`{name}` is not installed (Debian package: {apt_package})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(argv: list[str], *, cwd: Path | None = None, timeout: float = 60) -> str:
    """Run a command; on failure, fail the test with its output."""
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


_RENDERED: dict[str, list[dict[str, Any]]] = {}


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` makes of an overlay (cached for the session)."""
    if overlay not in _RENDERED:
        kubectl = tool("kubectl", "kubernetes-client, or kubectl from Google's Cloud SDK")
        out = run([kubectl, "kustomize", str(K8S / "overlays" / overlay)])
        _RENDERED[overlay] = [doc for doc in yaml.safe_load_all(out) if doc]
    return _RENDERED[overlay]


def render_on_base(component: str) -> list[dict[str, Any]]:
    """The objects of base + ``components/<component>`` in namespace livews, as an overlay
    using that component would render them (cached for the session)."""
    key = f"base+{component}"
    if key not in _RENDERED:
        kubectl = tool("kubectl", "kubernetes-client, or kubectl from Google's Cloud SDK")
        with tempfile.TemporaryDirectory(prefix="livews-k8s-") as tmp:
            rel = Path(os.path.relpath(K8S, tmp))
            (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "livews",
                "resources": [str(rel / "base")],
                "components": [str(rel / "components" / component)],
            }))  # fmt: skip
            out = run([kubectl, "kustomize", tmp])
        _RENDERED[key] = [doc for doc in yaml.safe_load_all(out) if doc]
    return _RENDERED[key]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every Deployment and StatefulSet."""
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o["metadata"]["name"], o["spec"]["template"]["spec"]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


class Infra:
    """What the infrastructure tests share; see the module functions of the same names."""

    root = ROOT
    k8s = K8S
    overlays = OVERLAYS
    fleet_overlays = FLEET_OVERLAYS

    tool = staticmethod(tool)
    run = staticmethod(run)
    render = staticmethod(render)
    render_on_base = staticmethod(render_on_base)
    by_kind = staticmethod(by_kind)
    pod_specs = staticmethod(pod_specs)
    load_yaml = staticmethod(load_yaml)


@pytest.fixture(scope="session")
def infra() -> Infra:
    return Infra()
