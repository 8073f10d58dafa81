"""infra/k8s/components/redis-sentinel: base + the component renders with kustomize, every
object validates against the Kubernetes schemas, and the wiring agrees with itself: the
services' REDIS_URL names every Sentinel pod, the Sentinels watch the data nodes as the
``sentinel`` user with quorum 2 (replicas sync as ``replica``), the ACL users come from the
Secret livews-redis, and the network policies let exactly the fleet and the Redis pods
through."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from livews_common import redisconn

COMPONENT = "components/redis-sentinel"
K8S_VERSION = "1.30.0"
FLEET_APPS = ("auth", "gateway", "marketdata")


@pytest.fixture(scope="module")
def objects(infra: Any) -> list[dict[str, Any]]:
    """base + the Sentinel component, as an overlay using it would render."""
    found: list[dict[str, Any]] = infra.render_on_base("redis-sentinel")
    return found


def test_every_object_validates(infra: Any, objects: list[dict[str, Any]]) -> None:
    crds = infra.root / "infra" / "schemas" / "crds"
    custom = {"ServiceMonitor": "servicemonitor-monitoring-v1.json",
              "PrometheusRule": "prometheusrule-monitoring-v1.json"}  # fmt: skip
    failures = []
    for obj in objects:
        try:
            if obj["kind"] in custom:
                schema = json.loads((crds / custom[obj["kind"]]).read_text())
                jsonschema.Draft202012Validator(schema).validate(obj)
            else:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("StatefulSet", "redis"), ("StatefulSet", "redis-sentinel")} <= kinds


def test_services_reach_every_sentinel(infra: Any, objects: list[dict[str, Any]]) -> None:
    sentinels = infra.by_kind(objects, "StatefulSet")["redis-sentinel"]
    service = sentinels["spec"]["serviceName"]
    assert service in infra.by_kind(objects, "Service")
    want = {(f"redis-sentinel-{i}.{service}", 26379) for i in range(sentinels["spec"]["replicas"])}
    deployments = infra.by_kind(objects, "Deployment")
    for app in FLEET_APPS:
        container = deployments[app]["spec"]["template"]["spec"]["containers"][0]
        env = [e for e in container["env"] if e["name"] == "REDIS_URL"]
        assert len(env) == 1, app
        target = redisconn.parse(env[0]["value"])
        assert target.kind == "sentinel" and target.service == "livews", app
        assert set(target.nodes) == want, app
        assert target.password is None, f"{app}: the password comes from REDIS_PASSWORD_FILE"
        names = {
            e["name"] for e in deployments[app]["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert {"REDIS_USERNAME", "REDIS_PASSWORD_FILE"} <= names, app


def _script(infra: Any, name: str) -> str:
    path: Path = infra.k8s / COMPONENT / name
    return path.read_text()


def test_sentinels_watch_the_data_nodes_as_the_sentinel_user_with_quorum_2(
    infra: Any, objects: list[dict[str, Any]]
) -> None:
    sentinel = _script(infra, "sentinel-start.sh")
    sets = infra.by_kind(objects, "StatefulSet")
    replicas = sets["redis-sentinel"]["spec"]["replicas"]
    quorum = int(re.search(r"sentinel monitor livews \$PRIMARY 6379 (\d+)", sentinel).group(1))  # type: ignore[union-attr]
    assert replicas == 3 and quorum == 2 and quorum > replicas // 2
    assert "sentinel auth-user livews sentinel" in sentinel
    assert "sentinel-password" in sentinel and "admin-password" not in sentinel
    assert sets["redis"]["spec"]["replicas"] == 3
    assert sets["redis"]["spec"]["serviceName"] == "redis-headless"
    data = _script(infra, "redis-start.sh")
    assert "aclfile /etc/redis/livews/users.acl" in data and "masteruser replica" in data
    assert "/etc/redis/livews/replica-password" in data
    # Both ask the Sentinels which node is primary before falling back to redis-0.
    find = _script(infra, "find-primary.sh")
    assert "get-master-addr-by-name livews" in find and 'echo "redis-0.redis-headless"' in find
    for text in (data, sentinel):
        assert "sh /scripts/find-primary.sh" in text
    # The ACL file and the passwords come from the Secret that dev-secrets.sh creates; the
    # Sentinels get only their own user's, never admin's.
    mounted = {
        name: {i["key"] for v in pod["volumes"] for i in v.get("secret", {}).get("items", [])}
        for name, pod in infra.pod_specs(objects)
        if name in ("redis", "redis-sentinel")
    }
    assert mounted["redis-sentinel"] == {"sentinel"}, mounted
    assert mounted["redis"] == {"users.acl", "admin", "replica"}, mounted
    secrets_script = (infra.k8s / "dev-secrets.sh").read_text()
    for name, pod in infra.pod_specs(objects):
        if name not in sets or name not in ("redis", "redis-sentinel"):
            continue
        for volume in pod["volumes"]:
            for item in volume.get("secret", {}).get("items", []):
                assert f"--from-file={item['key']}=" in secrets_script, (name, item["key"])


def test_start_scripts_are_valid_sh(infra: Any) -> None:
    sh = infra.tool("sh", "dash")
    for name in ("redis-start.sh", "sentinel-start.sh", "find-primary.sh"):
        infra.run([sh, "-n", str(infra.k8s / COMPONENT / name)])


def test_redis_pods_are_probed_limited_and_locked_down(
    infra: Any, objects: list[dict[str, Any]]
) -> None:
    for name, pod in infra.pod_specs(objects):
        if name not in ("redis", "redis-sentinel"):
            continue
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            assert c["readinessProbe"] and c["livenessProbe"], name
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], name
            assert mounts["/scripts"] == "scripts", name
            assert volumes["scripts"]["configMap"]["name"].startswith("redis-sentinel-scripts")
    configmaps = infra.by_kind(objects, "ConfigMap")
    for name, pod in infra.pod_specs(objects):
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, (name, volume)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a pod selector (matchLabels, ``In`` expressions) picks pods with ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _admits(policy: dict[str, Any], way: str, peer: dict[str, str], port: int) -> bool:
    """Whether a rule of ``policy`` (``ingress``/``egress``) lets pods with ``peer``'s labels
    in (from) or out (to) on ``port``; only pod-selector peers count (not ipBlocks)."""
    key = "from" if way == "ingress" else "to"
    for rule in policy["spec"].get(way, []):
        if port in {p["port"] for p in rule.get("ports", [])} and any(
            "podSelector" in p and _selects(p["podSelector"], peer) for p in rule[key]
        ):
            return True
    return False


def test_network_policies_let_the_fleet_and_the_redis_pods_through(
    objects: list[dict[str, Any]],
) -> None:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    fleet = {"app.kubernetes.io/name": "gateway", "livews.io/redis-client": "true"}
    web = {"app.kubernetes.io/name": "web"}
    node = {"app.kubernetes.io/name": "redis"}
    sentinel = {"app.kubernetes.io/name": "redis-sentinel"}

    def allowed(src: dict[str, str], dst: dict[str, str], port: int) -> bool:
        mine = [p for p in policies if _selects(p["spec"]["podSelector"], src)]
        theirs = [p for p in policies if _selects(p["spec"]["podSelector"], dst)]
        return any(_admits(p, "egress", dst, port) for p in mine) and any(
            _admits(p, "ingress", src, port) for p in theirs
        )

    assert allowed(fleet, sentinel, 26379) and allowed(fleet, node, 6379)
    assert allowed(node, node, 6379) and allowed(sentinel, node, 6379)
    assert allowed(sentinel, sentinel, 26379) and allowed(node, sentinel, 26379)
    assert not allowed(web, sentinel, 26379) and not allowed(web, node, 6379)
