"""infra/k8s: every overlay renders with kustomize, every object validates against the
Kubernetes schemas, and the manifests keep the promises of docs/operations.md."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from livews_common import redisconn

#: The Gateway API and KEDA variants of production (components applied on top of ../prod).
VARIANTS = ("prod-gateway-api", "prod-keda")
OVERLAYS = ("dev", "prod", "prod-green", "prod-live-green", *VARIANTS)
FLEET = ("dev", "prod", "prod-live-green")
#: Full fleets: the base overlays and the variants.
ALL_FLEETS = (*FLEET, *VARIANTS)
#: Full fleets whose edge is ingress-nginx.
INGRESS_FLEETS = (*FLEET, "prod-keda")
#: Oldest Kubernetes minor these manifests are written for.
K8S_VERSION = "1.30.0"
SECRET_NAMES = {"livews-secrets", "livews-redis"}
#: Components that no overlay uses, each rendered over base by its own test module.
OWN_TESTS = {"redis-sentinel": "test_k8s_sentinel.py"}
FLEET_APPS = {"auth", "gateway", "marketdata"}


#: (apiVersion, kind) of each custom object used in infra/k8s -> its schema in infra/schemas/crds.
CRD_FILES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
    ("cert-manager.io/v1", "ClusterIssuer"): "clusterissuer-cert-manager-v1.json",
    ("cert-manager.io/v1", "Certificate"): "certificate-cert-manager-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway-gateway-v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway-v1.json",
}


def crd_schemas(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    crds = root / "infra" / "schemas" / "crds"
    return {key: json.loads((crds / name).read_text()) for key, name in CRD_FILES.items()}


def validate(obj: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in crds:
        jsonschema.Draft202012Validator(crds[key]).validate(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


#: Components that replace the Redis of an overlay (one Redis topology or another): each is
#: rendered over base and validated by its own tests (redis-cluster below; redis-sentinel in
#: test_k8s_sentinel.py).
RENDERED_ON_BASE = {"redis-cluster", "redis-sentinel"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    assert objects, f"{overlay} rendered nothing"
    crds = crd_schemas(infra.root)
    failures = []
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            validate(obj, crds)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            failures.append(f"{name}: {exc.message} at {list(exc.path)}")
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{name}: no schema for {obj['apiVersion']} {obj['kind']}")
    assert not failures, "\n".join(failures)


def test_the_validators_refuse_a_broken_object(infra: Any) -> None:
    """Guards the test above against a validator that silently accepts anything."""
    deployment = copy.deepcopy(infra.by_kind(infra.render("prod"), "Deployment")["gateway"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, crd_schemas(infra.root))
    monitor = copy.deepcopy(infra.by_kind(infra.render("prod"), "ServiceMonitor")["livews"])
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor, crd_schemas(infra.root))


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_probed_limited_and_locked_down(infra: Any, overlay: str) -> None:
    for name, pod in infra.pod_specs(infra.render(overlay)):
        assert pod.get("automountServiceAccountToken") is False, name
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] > 0, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault", name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            assert c["readinessProbe"] and c["livenessProbe"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where} {kind}"
            csec = c["securityContext"]
            assert csec["readOnlyRootFilesystem"] is True, where
            assert csec["allowPrivilegeEscalation"] is False, where
            assert csec["capabilities"]["drop"] == ["ALL"], where
            assert not csec.get("capabilities", {}).get("add"), where
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]], where


@pytest.mark.parametrize("overlay", ALL_FLEETS)
def test_services_probe_readyz_and_healthz(infra: Any, overlay: str) -> None:
    for name, pod in infra.pod_specs(infra.render(overlay)):
        if name not in FLEET_APPS | {"fyers-emulator"}:
            continue
        c = pod["containers"][0]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        if name == "fyers-emulator":
            continue  # keeps nothing on disk
        assert "LIVEWS_STATE_DIR" in env_of(c), name
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert env_of(c)["LIVEWS_STATE_DIR"]["value"] in mounts, f"{name}: state dir is writable"


def pre_stop_seconds(container: dict[str, Any]) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", command
    return int(command[1])


@pytest.mark.parametrize("overlay", ("dev", "prod", "prod-green"))
def test_gateway_scales_drains_and_survives_disruption(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    suffix = "-green" if overlay == "prod-green" else ""
    deployment = infra.by_kind(objects, "Deployment")["gateway" + suffix]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    drain = int(env_of(container)["GATEWAY_DRAIN_SECONDS"]["value"])
    # SIGTERM comes after preStop; the drain must end well before the kubelet's SIGKILL.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop_seconds(container) + drain + 10
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"], "the HPA owns the gateway replica count"

    hpa = infra.by_kind(objects, "HorizontalPodAutoscaler")["gateway" + suffix]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway" + suffix,
    }  # fmt: skip
    assert hpa["spec"]["minReplicas"] >= 2
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "livews_gateway_connections"

    pdb = infra.by_kind(objects, "PodDisruptionBudget")["gateway" + suffix]
    labels = pod_labels(deployment)
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"].get("maxUnavailable") == 1


@pytest.mark.parametrize("overlay", ALL_FLEETS)
def test_marketdata_runs_leader_and_standby(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    deployment = infra.by_kind(objects, "Deployment")["marketdata"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert infra.by_kind(objects, "PodDisruptionBudget")["marketdata"]["spec"]["minAvailable"] == 1
    service = infra.by_kind(objects, "Service")["marketdata"]
    assert service["spec"]["publishNotReadyAddresses"] is True, "the standby is scraped too"


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overlay", ALL_FLEETS)
def test_services_ingress_and_monitor_point_at_real_pods(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    # After the switch, the live Service selects the pods that overlays/prod-green runs.
    deployed = objects + (infra.render("prod-green") if overlay == "prod-live-green" else [])
    workloads = [o for o in deployed if o["kind"] in ("Deployment", "StatefulSet")]
    services = infra.by_kind(objects, "Service")
    for name, svc in services.items():
        matched = [w for w in workloads if selects(svc["spec"]["selector"], pod_labels(w))]
        assert matched, f"Service {name} selects no pods"
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            names = {p["name"] for w in matched for p in w["spec"]["template"]["spec"]
                     ["containers"][0]["ports"]}  # fmt: skip
            assert target in names, f"Service {name} targets missing port {target}"
    for ingress in infra.by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports
    monitor = infra.by_kind(objects, "ServiceMonitor")["livews"]
    scraped = {
        n
        for n, s in services.items()
        if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    }
    assert {"auth", "gateway-pods", "marketdata"} <= scraped
    for name in scraped:
        assert "http" in {p["name"] for p in services[name]["spec"]["ports"]}


@pytest.mark.parametrize("overlay", INGRESS_FLEETS)
def test_ingress_routes_one_origin_with_websocket_timeouts(infra: Any, overlay: str) -> None:
    ingresses = infra.by_kind(infra.render(overlay), "Ingress")
    routes = {}
    for ingress in ingresses.values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for path in ingress["spec"]["rules"][0]["http"]["paths"]:
            routes[path["path"]] = (ingress, path["backend"]["service"]["name"])
    assert {p: svc for p, (_, svc) in routes.items()} == {
        "/socket.io": "gateway", "/auth": "auth", "/": "web",
    }  # fmt: skip
    socket_annotations = routes["/socket.io"][0]["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        # Far above Engine.IO's 25 s ping interval.
        assert int(socket_annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600


@pytest.mark.parametrize("overlay", ALL_FLEETS)
def test_network_policies_admit_only_the_ingress_and_the_fleet(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    policies = infra.by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    from_ingress = policies["allow-ingress-controller"]["spec"]
    assert set(from_ingress["podSelector"]["matchExpressions"][0]["values"]) == {
        "auth", "gateway", "web",
    }  # fmt: skip
    redis_clients = {
        w["metadata"]["name"]
        for w in objects
        if w["kind"] == "Deployment" and pod_labels(w).get("livews.io/redis-client") == "true"
    }
    assert redis_clients == FLEET_APPS
    if overlay == "dev":
        redis = policies["redis-fleet-only"]["spec"]
        assert redis["ingress"] == [{
            "from": [{"podSelector": {"matchLabels": {"livews.io/redis-client": "true"}}}],
            "ports": [{"protocol": "TCP", "port": 6379}],
        }]  # fmt: skip


def test_redis_is_a_statefulset_in_dev_and_external_in_prod(infra: Any) -> None:
    dev = infra.render("dev")
    assert "redis" in infra.by_kind(dev, "StatefulSet")
    assert infra.by_kind(dev, "ConfigMap")["livews-config"]["data"]["REDIS_URL"].startswith(
        "redis://redis:"
    )
    for overlay in ("prod", "prod-green"):
        objects = infra.render(overlay)
        assert not infra.by_kind(objects, "StatefulSet")
        for name, pod in infra.pod_specs(objects):
            if name.removesuffix("-green") not in FLEET_APPS:
                continue
            ref = env_of(pod["containers"][0])["REDIS_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "livews-redis", "key": "url"}, name


SECRETISH = re.compile(r"(KEY|SECRET|PIN|PASSWORD|TOKEN|CLIENT_ID|REDIRECT_URI)$")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_embedded(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    assert not [o for o in objects if o["kind"] == "Secret"], "no Secret object in the tree"
    for config in infra.by_kind(objects, "ConfigMap").values():
        assert not [k for k in config["data"] if SECRETISH.search(k)], config["data"]
    for name, pod in infra.pod_specs(objects):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            env = env_of(c)
            for var, entry in env.items():
                if SECRETISH.search(var):
                    assert "value" not in entry, f"{name}: {var} has an inline value"
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert ref["name"] in SECRET_NAMES
                if var.endswith("_FILE"):
                    assert_file_is_mounted(name, c, volumes, entry["value"])
        for volume in volumes.values():
            if "secret" in volume:
                assert volume["secret"]["secretName"] in SECRET_NAMES


def assert_file_is_mounted(
    where: str, container: dict[str, Any], volumes: dict[str, Any], path: str
) -> None:
    """A *_FILE variable names a key of a Secret volume that this container mounts."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            secret = volumes[mount["name"]]["secret"]
            keys = {item["path"] for item in secret["items"]}
            assert path[len(prefix) :] in keys, f"{where}: {path} is not a mounted key"
            return
    pytest.fail(f"{where}: {path} is on no mounted volume")


def test_no_secret_material_anywhere_under_k8s(infra: Any) -> None:
    for path in infra.k8s.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY-----" not in text, path
        assert "secretGenerator" not in text, f"{path}: secrets are created outside the tree"
        assert not re.search(r"^kind:\s*Secret\s*$", text, re.M), path


def test_secret_keys_match_what_the_generators_write(infra: Any) -> None:
    """Every key the manifests mount is one that infra/compose/init.sh (and so
    infra/k8s/dev-secrets.sh) generates."""
    script = (infra.root / "infra" / "compose" / "init.sh").read_text()
    generated = set(re.findall(r"write_once ([a-z-]+)", script)) | {"auth-signing-key"}
    for overlay in ALL_FLEETS:
        for name, pod in infra.pod_specs(infra.render(overlay)):
            for volume in pod.get("volumes", []):
                if volume.get("secret", {}).get("secretName") == "livews-secrets":
                    keys = {item["key"] for item in volume["secret"]["items"]}
                    assert keys <= generated, f"{overlay} {name}: {keys - generated}"


def test_blue_green_switches_the_service_selector_only(infra: Any) -> None:
    prod, live_green, green = (infra.render(o) for o in ("prod", "prod-live-green", "prod-green"))
    assert infra.by_kind(prod, "Service")["gateway"]["spec"]["selector"]["livews.io/color"] == (
        "blue"
    )
    switched = infra.by_kind(live_green, "Service")["gateway"]
    assert switched["spec"]["selector"]["livews.io/color"] == "green"
    # Switching touches nothing else.
    strip = [o for o in live_green if not (o["kind"] == "Service" and
                                           o["metadata"]["name"] == "gateway")]  # fmt: skip
    assert strip == [o for o in prod if not (o["kind"] == "Service" and
                                             o["metadata"]["name"] == "gateway")]  # fmt: skip

    blue = infra.by_kind(prod, "Deployment")["gateway"]
    green_deployment = infra.by_kind(green, "Deployment")["gateway-green"]
    assert pod_labels(blue)["livews.io/color"] == "blue"
    assert pod_labels(green_deployment)["livews.io/color"] == "green"
    assert green_deployment["spec"]["selector"]["matchLabels"]["livews.io/color"] == "green"
    # Same workload apart from colour: the green copy cannot drift from the blue one.
    blue_pod = copy.deepcopy(blue["spec"]["template"]["spec"])
    green_pod = copy.deepcopy(green_deployment["spec"]["template"]["spec"])
    for pod in (blue_pod, green_pod):
        pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"].pop(
            "livews.io/color", None
        )
    assert blue_pod == green_pod
    preview = infra.by_kind(green, "Service")["gateway-preview-green"]
    assert preview["spec"]["selector"]["livews.io/color"] == "green"


def test_prometheus_rule_matches_alerts_yml(infra: Any) -> None:
    """infra/k8s/base/prometheusrule.yaml is generated from alerts.yml and must not drift."""
    alerts = infra.load_yaml(infra.root / "infra/observability/prometheus/alerts.yml")
    rule = infra.load_yaml(infra.k8s / "base" / "prometheusrule.yaml")
    assert rule["spec"]["groups"] == alerts["groups"], (
        "run: uv run python infra/observability/sync_prometheusrule.py"
    )


def test_images_are_the_ones_the_repository_builds(infra: Any) -> None:
    dockerfiles = {
        "livews/auth": "infra/images/python.Dockerfile",
        "livews/gateway": "infra/images/python.Dockerfile",
        "livews/marketdata": "infra/images/python.Dockerfile",
        "livews/web": "web/Dockerfile",
        "livews/fyers-emulator": "infra/images/python.Dockerfile",
    }
    for overlay in OVERLAYS:
        for name, pod in infra.pod_specs(infra.render(overlay)):
            image = pod["containers"][0]["image"]
            if name == "redis":
                assert image.startswith("redis:7")
                continue
            repo, _, tag = image.rpartition(":")
            assert tag and tag != "latest", image
            base = "livews/" + repo.rsplit("/", 1)[1]
            assert (infra.root / dockerfiles[base]).is_file(), image


# -- the edge: Ingress limits and headers, egress NetworkPolicies (issue #12) ----------------

ANN = "nginx.ingress.kubernetes.io/"


def label_selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and In/NotIn/Exists) against pod labels."""
    if not selects(selector.get("matchLabels", {}), labels):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
    return True


def nginx_csp(root: Path) -> str:
    conf = (root / "infra" / "nginx" / "nginx.conf").read_text()
    match = re.search(r'add_header Content-Security-Policy "([^"]+)" always;', conf)
    assert match, "infra/nginx/nginx.conf sends no CSP"
    return match.group(1)


@pytest.mark.parametrize("overlay", INGRESS_FLEETS)
def test_ingress_limits_and_security_headers(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    headers = infra.by_kind(objects, "ConfigMap")["livews-edge-headers"]
    namespace = headers["metadata"]["namespace"]
    data = headers["data"]
    csp = data["Content-Security-Policy"]
    # The same policy as the compose/bare-machine nginx, which the dashboard e2e runs under.
    assert csp == nginx_csp(infra.root)
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert data["X-Frame-Options"] == "DENY" and data["X-Content-Type-Options"] == "nosniff"
    assert data["Referrer-Policy"]
    for name, ingress in infra.by_kind(objects, "Ingress").items():
        ann = ingress["metadata"]["annotations"]
        # Per-address limits, bounded and present on every Ingress.
        assert 1 <= int(ann[ANN + "limit-connections"]) <= 200, name
        assert 1 <= int(ann[ANN + "limit-rps"]) <= 50, name
        assert 1 <= int(ann[ANN + "limit-burst-multiplier"]) <= 10, name
        size = ann[ANN + "proxy-body-size"]
        assert re.fullmatch(r"\d+k", size) and int(size[:-1]) <= 64, f"{name}: {size}"
        # The headers ConfigMap the controller reads is this overlay's own.
        assert ann[ANN + "custom-headers"] == f"{namespace}/livews-edge-headers", name
        assert not [k for k in ann if "snippet" in k], f"{name}: raw nginx snippets"
    values = infra.load_yaml(infra.k8s / "extras" / "ingress-nginx-values.yaml")
    config = values["controller"]["config"]
    assert config["limit-req-status-code"] == config["limit-conn-status-code"] == "429"
    assert config["hsts"] == "true" and int(config["hsts-max-age"]) >= 31536000
    assert set(config["global-allowed-response-headers"].split(",")) == set(data)
    assert int(config["client-header-timeout"]) <= 15 and int(config["client-body-timeout"]) <= 15
    assert config["use-forwarded-headers"] == "false"


def egress_of(labels: dict[str, str], policies: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The egress rules that apply to a pod with these labels (None: egress unrestricted)."""
    rules: list[dict[str, Any]] | None = None
    for policy in policies.values():
        spec = policy["spec"]
        if "Egress" in spec["policyTypes"] and label_selects(spec["podSelector"], labels):
            rules = (rules or []) + spec.get("egress", [])
    return rules


def peers(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """Every (peer, port) the rules allow; a peer is 'ns:<name>', 'pod:<app>' or 'cidr:<cidr>'."""
    out: set[tuple[str, int]] = set()
    for rule in rules:
        ports = [p["port"] for p in rule["ports"]]  # every rule names its ports
        for peer in rule["to"]:  # and its peers (no rule is "anywhere")
            if "namespaceSelector" in peer:
                name = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                key = f"ns:{name}"
            elif "podSelector" in peer:
                selector = peer["podSelector"]
                app = selector.get("matchLabels", {}).get("app.kubernetes.io/name")
                key = f"pod:{app}"
            else:
                block = peer["ipBlock"]
                key = f"cidr:{block['cidr']}"
                if block["cidr"] == "0.0.0.0/0":
                    # The internet, never the cluster's or the cloud's private ranges.
                    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                            "169.254.0.0/16"} <= set(block.get("except", [])), block  # fmt: skip
            out |= {(key, port) for port in ports}
    return out


PRIVATE = {"cidr:10.0.0.0/8", "cidr:172.16.0.0/12", "cidr:192.168.0.0/16"}
DNS = {("ns:kube-system", 53)}
REDIS = {("pod:redis", 6379)} | {(c, p) for c in PRIVATE for p in (6379, 6380)}
FYERS = {("cidr:0.0.0.0/0", 443)}


@pytest.mark.parametrize("overlay", ALL_FLEETS)
def test_egress_policies_allow_each_pod_only_what_it_needs(infra: Any, overlay: str) -> None:
    objects = infra.render(overlay)
    policies = infra.by_kind(objects, "NetworkPolicy")
    deny = policies["default-deny-egress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Egress"]}
    emulator = {("pod:fyers-emulator", 8090)} if overlay == "dev" else set()
    expected = {
        "auth": DNS | REDIS | FYERS | emulator,
        "marketdata": DNS | REDIS | FYERS | emulator,
        "gateway": DNS | REDIS | {("pod:auth", 8001)},
        "web": DNS,
        "fyers-emulator": DNS,
        "redis": DNS,
    }
    seen = set()
    for workload in objects:
        if workload["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = pod_labels(workload)
        app = labels["app.kubernetes.io/name"]
        rules = egress_of(labels, policies)
        assert rules is not None, f"{workload['metadata']['name']}: egress unrestricted"
        allowed = {(peer, port) for peer, port in peers(rules)}
        assert allowed == expected[app], f"{overlay} {app}: {sorted(allowed ^ expected[app])}"
        seen.add(app)
    assert {"auth", "marketdata", "gateway", "web"} <= seen
    # UDP and TCP both for DNS; everything else TCP.
    dns = policies["egress-dns"]["spec"]["egress"][0]["ports"]
    assert {(p["protocol"], p["port"]) for p in dns} == {("UDP", 53), ("TCP", 53)}


# -- beyond ingress-nginx: the Gateway API and KEDA variants, TLS from cert-manager (issue #13) --


def render_dir(infra: Any, path: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` makes of any kustomization directory."""
    kubectl = infra.tool("kubectl", "kubernetes-client, or kubectl from Google's Cloud SDK")
    return [doc for doc in yaml.safe_load_all(infra.run([kubectl, "kustomize", str(path)])) if doc]


def combine(
    infra: Any, tmp_path: Path, overlay: str, components: list[str]
) -> list[dict[str, Any]]:
    """Render a throw-away overlay: `overlay` with these components applied on top (the way a
    user's own overlay combines them)."""
    rel = Path(os.path.relpath(infra.k8s, tmp_path))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(rel / "overlays" / overlay)],
        "components": [str(rel / "components" / c) for c in components],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render_dir(infra, tmp_path)


def assert_all_valid(infra: Any, objects: list[dict[str, Any]]) -> None:
    crds = crd_schemas(infra.root)
    for obj in objects:
        validate(obj, crds)


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def duration_seconds(value: str) -> float:
    """A Gateway API Duration ("0s", "30s", "1h30m", "500ms") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+)(ms|h|m|s)", value)
    assert "".join(n + u for n, u in parts) == value, value
    return sum(int(n) * units[u] for n, u in parts)


def without(objects: list[dict[str, Any]], *keys: tuple[str, str]) -> list[dict[str, Any]]:
    """The objects except those of these (kind, name); name "*" is every object of the kind."""
    return [
        o
        for o in objects
        if not any(o["kind"] == k and n in ("*", o["metadata"]["name"]) for k, n in keys)
    ]


def test_the_validators_refuse_broken_gateway_api_keda_and_cert_manager_objects(
    infra: Any,
) -> None:
    """The new schemas are strict too: a misspelt field or a bad value fails validation."""
    crds = crd_schemas(infra.root)
    gateway_api, keda = infra.render("prod-gateway-api"), infra.render("prod-keda")
    route = copy.deepcopy(infra.by_kind(gateway_api, "HTTPRoute")["livews-socket"])
    route["spec"]["rules"][0]["timeout"] = {"request": "0s"}  # the field is `timeouts`
    gateway = copy.deepcopy(one(gateway_api, "Gateway"))
    gateway["spec"]["listeners"][1]["tls"]["mode"] = "Reencrypt"  # Terminate or Passthrough
    scaled = copy.deepcopy(one(keda, "ScaledObject"))
    scaled["spec"]["maxReplicas"] = 20  # KEDA's field is maxReplicaCount
    certificate = copy.deepcopy(one(keda, "Certificate"))
    del certificate["spec"]["secretName"]  # required
    cluster = render_dir(infra, infra.k8s / "cluster" / "cert-manager")
    issuer = copy.deepcopy(infra.by_kind(cluster, "ClusterIssuer")["livews-letsencrypt"])
    issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["className"] = "nginx"
    for broken in (route, gateway, scaled, certificate, issuer):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, crds)


def test_gateway_api_variant_routes_one_origin_with_websocket_timeouts_and_tls(
    infra: Any,
) -> None:
    prod, objects = infra.render("prod"), infra.render("prod-gateway-api")
    assert not infra.by_kind(objects, "Ingress"), "the Gateway replaces the Ingresses"
    assert "livews-edge-headers" not in infra.by_kind(objects, "ConfigMap")
    host = infra.by_kind(prod, "Ingress")["livews-web"]["spec"]["rules"][0]["host"]
    namespace = infra.by_kind(prod, "Deployment")["gateway"]["metadata"]["namespace"]

    gateway = one(objects, "Gateway")
    assert gateway["metadata"]["namespace"] == namespace
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    assert {(n, item["protocol"], item["port"]) for n, item in listeners.items()} == {
        ("http", "HTTP", 80), ("https", "HTTPS", 443),
    }  # fmt: skip
    assert {item["hostname"] for item in listeners.values()} == {host}
    tls = listeners["https"]["tls"]
    certificate = one(objects, "Certificate")
    assert tls["mode"] == "Terminate"
    assert [(r.get("kind", "Secret"), r["name"]) for r in tls["certificateRefs"]] == [
        ("Secret", certificate["spec"]["secretName"])
    ]
    assert certificate["spec"]["dnsNames"] == [host]

    routes = infra.by_kind(objects, "HTTPRoute")
    services = infra.by_kind(objects, "Service")
    paths: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, route in routes.items():
        assert route["metadata"]["namespace"] == namespace, name
        assert route["spec"]["hostnames"] == [host], name
        (parent,) = route["spec"]["parentRefs"]
        assert parent["name"] == gateway["metadata"]["name"], name
        if name == "livews-https-redirect":
            # Plain HTTP only redirects (ACME's challenge route is cert-manager's, more specific).
            assert parent["sectionName"] == "http"
            (rule,) = route["spec"]["rules"]
            assert "backendRefs" not in rule and "matches" not in rule
            assert rule["filters"] == [{
                "type": "RequestRedirect",
                "requestRedirect": {"scheme": "https", "statusCode": 301},
            }]  # fmt: skip
            continue
        assert parent["sectionName"] == "https", f"{name} is served on HTTPS only"
        for rule in route["spec"]["rules"]:
            (match,) = rule["matches"]
            assert match["path"]["type"] == "PathPrefix"
            (backend,) = rule["backendRefs"]
            ports = {p["port"] for p in services[backend["name"]]["spec"]["ports"]}
            assert backend["port"] in ports, f"{name}: {backend} is no Service port"
            paths[match["path"]["value"]] = (backend["name"], rule)
    assert {p: svc for p, (svc, _) in paths.items()} == {
        "/socket.io": "gateway", "/auth": "auth", "/": "web",
    }  # fmt: skip

    # A websocket lives all trading day: no request timeout on the socket route ("0s" is
    # the Gateway API's "disabled"); the short HTTP calls keep a bounded one.
    socket_timeouts = paths["/socket.io"][1]["timeouts"]
    assert socket_timeouts == {"request": "0s", "backendRequest": "0s"}
    for path in ("/auth", "/"):
        assert 0 < duration_seconds(paths[path][1]["timeouts"]["request"]) <= 60, path
    print(f"\nGATEWAY-API host={host} socket timeouts={socket_timeouts} "
          f"auth/web request timeout={paths['/auth'][1]['timeouts']['request']}")  # fmt: skip


def test_gateway_api_variant_keeps_the_security_headers(infra: Any) -> None:
    """Every HTTPS rule sets the same response headers as the Ingress edge (and nginx.conf),
    plus HSTS, which ingress-nginx adds controller-wide."""
    prod, objects = infra.render("prod"), infra.render("prod-gateway-api")
    expected = dict(infra.by_kind(prod, "ConfigMap")["livews-edge-headers"]["data"])
    assert expected["Content-Security-Policy"] == nginx_csp(infra.root)
    values = infra.load_yaml(infra.k8s / "extras" / "ingress-nginx-values.yaml")
    config = values["controller"]["config"]
    rules = 0
    for name, route in infra.by_kind(objects, "HTTPRoute").items():
        if name == "livews-https-redirect":
            continue
        for rule in route["spec"]["rules"]:
            (header_filter,) = [f for f in rule["filters"] if f["type"] == "ResponseHeaderModifier"]
            headers = {
                h["name"]: h["value"] for h in header_filter["responseHeaderModifier"]["set"]
            }
            hsts = headers.pop("Strict-Transport-Security")
            assert headers == expected, name
            assert f"max-age={config['hsts-max-age']}" in hsts and "includeSubDomains" in hsts
            rules += 1
    assert rules == 3


def test_gateway_api_variant_admits_its_data_plane_and_changes_nothing_else(infra: Any) -> None:
    prod, objects = infra.render("prod"), infra.render("prod-gateway-api")
    policies = infra.by_kind(objects, "NetworkPolicy")
    for name in ("allow-ingress-controller", "allow-acme-http01-solver"):
        (source,) = policies[name]["spec"]["ingress"][0]["from"]
        assert source["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "envoy-gateway-system"
        }, name
    # cert-manager picks the Gateway solver for this Certificate (cluster/cert-manager).
    assert one(objects, "Certificate")["metadata"]["labels"]["livews.io/edge"] == "gateway-api"
    changed = [
        ("NetworkPolicy", "allow-ingress-controller"),
        ("NetworkPolicy", "allow-acme-http01-solver"),
        ("Certificate", "livews-tls"),
    ]
    assert without(objects, ("Gateway", "*"), ("HTTPRoute", "*"), *changed) == without(
        prod, ("Ingress", "*"), ("ConfigMap", "livews-edge-headers"), *changed
    )


BLUE_POD = "gateway-7d9f8b6c5-x2kqz"
GREEN_POD = "gateway-green-7d9f8b6c5-x2kqz"


def test_keda_variant_scales_on_connections_through_prometheus_instead_of_the_hpa(
    infra: Any,
) -> None:
    prod, objects = infra.render("prod"), infra.render("prod-keda")
    hpa = infra.by_kind(prod, "HorizontalPodAutoscaler")["gateway"]
    deployment = infra.by_kind(objects, "Deployment")["gateway"]
    # Two autoscalers must never own one Deployment's replica count.
    assert not [
        h for h in infra.by_kind(objects, "HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"]["name"] == "gateway"
    ]  # fmt: skip
    assert "replicas" not in deployment["spec"]
    scaled = one(objects, "ScaledObject")
    spec = scaled["spec"]
    assert scaled["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert spec["scaleTargetRef"] == hpa["spec"]["scaleTargetRef"]
    # The same bounds, targets and behaviour as the HPA it replaces.
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (
        hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"],
    )  # fmt: skip
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == hpa["spec"]["behavior"]
    hpa_metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    triggers = {t["type"]: t for t in spec["triggers"]}
    assert set(triggers) == {"cpu", "prometheus"}
    assert triggers["cpu"]["metricType"] == "Utilization"
    assert (
        int(triggers["cpu"]["metadata"]["value"])
        == (hpa_metrics["Resource"]["resource"]["target"]["averageUtilization"])
    )
    connections = triggers["prometheus"]
    assert connections["metricType"] == "AverageValue"
    meta = connections["metadata"]
    assert int(meta["threshold"]) == int(hpa_metrics["Pods"]["pods"]["target"]["averageValue"])
    query = meta["query"]
    match = re.fullmatch(
        r'sum\(livews_gateway_connections\{namespace="([^"]+)",pod=~"([^"]+)"\}\)', query
    )
    assert match, query
    assert match.group(1) == deployment["metadata"]["namespace"]
    # Prometheus regexes are anchored: the blue Deployment's pods, not green's.
    assert re.fullmatch(match.group(2), BLUE_POD) and not re.fullmatch(match.group(2), GREEN_POD)
    # The same Prometheus the prometheus-adapter of the HPA variant reads.
    adapter = infra.load_yaml(infra.k8s / "extras" / "prometheus-adapter-values.yaml")
    assert (
        meta["serverAddress"] == f"{adapter['prometheus']['url']}:{adapter['prometheus']['port']}"
    )
    print(f"\nKEDA min={spec['minReplicaCount']} max={spec['maxReplicaCount']} "
          f"threshold={meta['threshold']}/pod cpu={triggers['cpu']['metadata']['value']}% "
          f"query={query}")  # fmt: skip
    # Nothing else differs from production.
    assert without(objects, ("ScaledObject", "*")) == without(
        prod, ("HorizontalPodAutoscaler", "gateway")
    )


def test_components_combine_and_follow_the_overlay_namespace_and_host(
    infra: Any, tmp_path: Path
) -> None:
    """Both components on the dev overlay (another namespace and host): every object
    validates, and the namespace and host they copy are dev's, not production's."""
    objects = combine(infra, tmp_path, "dev", ["gateway-api", "keda"])
    assert_all_valid(infra, objects)
    dev = infra.render("dev")
    host = infra.by_kind(dev, "Ingress")["livews-web"]["spec"]["rules"][0]["host"]
    assert not infra.by_kind(objects, "Ingress") and not infra.by_kind(
        objects, "HorizontalPodAutoscaler"
    )
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "livews-dev", obj["metadata"]["name"]
    assert {item["hostname"] for item in one(objects, "Gateway")["spec"]["listeners"]} == {host}
    for route in infra.by_kind(objects, "HTTPRoute").values():
        assert route["spec"]["hostnames"] == [host]
    query = one(objects, "ScaledObject")["spec"]["triggers"][1]["metadata"]["query"]
    assert 'namespace="livews-dev"' in query


def test_tls_certificate_comes_from_lets_encrypt_through_either_edge(infra: Any) -> None:
    cluster = render_dir(infra, infra.k8s / "cluster" / "cert-manager")
    assert_all_valid(infra, cluster)
    issuers = infra.by_kind(cluster, "ClusterIssuer")
    for name, issuer in issuers.items():
        assert "namespace" not in issuer["metadata"], f"{name} is cluster-scoped"
    acme = issuers["livews-letsencrypt"]["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    staging = issuers["livews-letsencrypt-staging"]["spec"]["acme"]
    assert "acme-staging-v02.api.letsencrypt.org" in staging["server"]
    assert staging["solvers"] == acme["solvers"]

    for overlay in ("prod", "prod-keda", "prod-live-green", "prod-gateway-api"):
        objects = infra.render(overlay)
        certificate = one(objects, "Certificate")
        ref = certificate["spec"]["issuerRef"]
        assert (ref["kind"], ref["name"]) == ("ClusterIssuer", "livews-letsencrypt"), overlay
        labels = certificate["metadata"].get("labels", {})
        # cert-manager takes a solver whose selector matches over one without a selector.
        chosen = [
            s for s in acme["solvers"]
            if "selector" in s and selects(s["selector"]["matchLabels"], labels)
        ]  # fmt: skip
        (solver,) = chosen or [s for s in acme["solvers"] if "selector" not in s]
        http01 = solver["http01"]
        if overlay == "prod-gateway-api":
            gateway = one(objects, "Gateway")
            (parent,) = http01["gatewayHTTPRoute"]["parentRefs"]
            assert "namespace" not in parent, "the Certificate's own namespace"
            assert parent["name"] == gateway["metadata"]["name"]
            listener = {item["name"]: item for item in gateway["spec"]["listeners"]}[
                parent["sectionName"]
            ]
            assert (listener["protocol"], listener["port"]) == ("HTTP", 80)
        else:
            # Wired to the Ingresses: their TLS secret and hosts are the Certificate's.
            assert http01["ingress"]["ingressClassName"] == "nginx"
            for ingress in infra.by_kind(objects, "Ingress").values():
                (tls,) = ingress["spec"]["tls"]
                assert tls["secretName"] == certificate["spec"]["secretName"]
                assert tls["hosts"] == certificate["spec"]["dnsNames"]
                assert [r["host"] for r in ingress["spec"]["rules"]] == tls["hosts"]
        # The edge may reach the solver pod cert-manager starts in this namespace.
        policies = infra.by_kind(objects, "NetworkPolicy")
        solver_policy = policies["allow-acme-http01-solver"]["spec"]
        assert solver_policy["podSelector"]["matchLabels"] == {
            "acme.cert-manager.io/http01-solver": "true"
        }
        assert solver_policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8089}]
        assert (solver_policy["ingress"][0]["from"]
                == policies["allow-ingress-controller"]["spec"]["ingress"][0]["from"])  # fmt: skip
    # Compose and dev keep their self-signed certificate.
    assert not [o for o in infra.render("dev") if o["kind"] in ("Certificate", "ClusterIssuer")]


def test_keda_query_counts_this_namespace_blue_gateways_in_prometheus(
    infra: Any, tmp_path: Path
) -> None:
    """The ScaledObject's query, as rendered, run by Prometheus' own engine (promtool) over
    made-up series: it sums the connections of this namespace's blue gateway pods and nothing
    else (not green pods, not another namespace, not another metric)."""
    promtool = infra.tool("promtool", "prometheus")
    scaled = one(infra.render("prod-keda"), "ScaledObject")
    (trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"]
    series = {
        'livews_gateway_connections{namespace="livews",pod="gateway-7d9f8b6c5-x2kqz"}': 1500,
        'livews_gateway_connections{namespace="livews",pod="gateway-7d9f8b6c5-q8wzt"}': 1200,
        'livews_gateway_connections{namespace="livews",pod="gateway-green-5b6c7d8e9-abcde"}': 900,
        'livews_gateway_connections{namespace="livews-dev",pod="gateway-7d9f8b6c5-x2kqz"}': 700,
        'livews_gateway_subscriptions{namespace="livews",pod="gateway-7d9f8b6c5-x2kqz"}': 300,
    }
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": f"{v}x5"} for s, v in series.items()],
            "promql_expr_test": [{
                "expr": trigger["metadata"]["query"],
                "eval_time": "3m",
                "exp_samples": [{"labels": "{}", "value": 2700}],
            }],
        }],
    }  # fmt: skip
    path = tmp_path / "keda-query-test.yml"
    path.write_text(yaml.safe_dump(tests))
    out = infra.run([promtool, "test", "rules", str(path)])
    print(f"\nKEDA-QUERY blue pods in livews: 1500+1200 = 2700 counted; green 900, "
          f"livews-dev 700 ignored; promtool: {out.strip().splitlines()[-1]}")  # fmt: skip


def test_every_overlay_and_component_is_rendered_by_these_tests(infra: Any) -> None:
    """A new overlay or component cannot escape the render-and-validate tests above."""
    overlays = {p.parent.name for p in (infra.k8s / "overlays").glob("*/kustomization.yaml")}
    assert overlays == set(OVERLAYS), overlays ^ set(OVERLAYS)
    used = set()
    for overlay in OVERLAYS:
        kustomization = infra.load_yaml(infra.k8s / "overlays" / overlay / "kustomization.yaml")
        used |= {Path(c).name for c in kustomization.get("components", [])}
    # Components rendered and validated by a test module of their own (over base).
    for component, module in OWN_TESTS.items():
        assert (Path(__file__).parent / module).is_file(), module
        used.add(component)
    components = {p.parent.name for p in (infra.k8s / "components").glob("*/kustomization.yaml")}
    assert components - RENDERED_ON_BASE <= used, f"rendered by no overlay: {components - used}"
    clusters = {p.parent.name for p in (infra.k8s / "cluster").glob("*/kustomization.yaml")}
    assert clusters == {"cert-manager"}, "render and validate the new cluster-wide kustomization"


# -- components/redis-cluster ----------------------------------------------------------------

CLUSTER_NODES = 6


@pytest.fixture(scope="module")
def cluster_objects(infra: Any) -> list[dict[str, Any]]:
    """base + components/redis-cluster, as an overlay using it renders."""
    objects: list[dict[str, Any]] = infra.render_on_base("redis-cluster")
    return objects


def test_redis_cluster_component_renders_and_validates(
    infra: Any, cluster_objects: list[dict[str, Any]]
) -> None:
    crds = crd_schemas(infra.root)
    failures = []
    for obj in cluster_objects:
        try:
            validate(obj, crds)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)
    nodes = infra.by_kind(cluster_objects, "StatefulSet")["redis-cluster"]
    assert nodes["spec"]["replicas"] == CLUSTER_NODES
    pod = nodes["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"]
    container = pod["containers"][0]
    assert container["readinessProbe"] and container["livenessProbe"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {p["containerPort"] for p in container["ports"]} == {6379, 16379}
    # The users and the replication password come from the Secret the generators write.
    acl = next(v for v in pod["volumes"] if v["name"] == "acl")["secret"]
    assert acl["secretName"] == "livews-redis"
    assert {i["key"] for i in acl["items"]} == {"users.acl", "admin", "replica"}
    job = infra.by_kind(cluster_objects, "Job")["redis-cluster-create"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_redis_cluster_scripts_create_3_primaries_with_a_replica_each(infra: Any) -> None:
    here = infra.k8s / "components" / "redis-cluster"
    for script in ("node-start.sh", "cluster-create.sh"):
        infra.run(["sh", "-n", str(here / script)])  # parses
    create = (here / "cluster-create.sh").read_text()
    assert "--cluster create $nodes --cluster-replicas 1" in create
    assert f"for i in {' '.join(str(i) for i in range(CLUSTER_NODES))}; do" in create
    node = (here / "node-start.sh").read_text()
    for line in ("cluster-enabled yes", "aclfile /etc/redis/livews/users.acl", "masteruser replica",
                 "cluster-require-full-coverage no", "maxmemory-policy noeviction"):  # fmt: skip
        assert f'echo "{line}' in node, line


def test_services_reach_every_cluster_node_as_their_own_user(
    infra: Any, cluster_objects: list[dict[str, Any]]
) -> None:
    service = infra.by_kind(cluster_objects, "Service")["redis-cluster-headless"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
    want = {(f"redis-cluster-{i}.redis-cluster-headless", 6379) for i in range(CLUSTER_NODES)}
    for name, pod in infra.pod_specs(cluster_objects):
        if name not in FLEET_APPS:
            continue
        env = env_of(pod["containers"][0])
        target = redisconn.parse(env["REDIS_URL"]["value"])
        assert target.kind == "cluster" and set(target.nodes) == want, name
        assert target.password is None, f"{name}: the password comes from REDIS_PASSWORD_FILE"
        assert {"REDIS_USERNAME", "REDIS_PASSWORD_FILE"} <= set(env), name
        assert env["REDIS_USERNAME"]["value"] == name, name


def test_redis_cluster_network_policies_admit_the_fleet_and_the_bus(
    infra: Any, cluster_objects: list[dict[str, Any]]
) -> None:
    policies = infra.by_kind(cluster_objects, "NetworkPolicy")
    nodes = {"app.kubernetes.io/component": "redis-cluster", "app.kubernetes.io/name": "redis"}
    inbound = policies["redis-cluster-ingress"]["spec"]
    assert inbound["podSelector"]["matchLabels"] == nodes
    rules = {
        json.dumps(r["from"][0]["podSelector"]["matchLabels"], sort_keys=True):
            {p["port"] for p in r["ports"]}
        for r in inbound["ingress"]
    }  # fmt: skip
    assert rules == {
        json.dumps({"livews.io/redis-client": "true"}): {6379},
        json.dumps(nodes, sort_keys=True): {6379, 16379},
    }
    outbound = policies["redis-cluster-egress"]["spec"]["egress"]
    assert {p["port"] for r in outbound for p in r["ports"]} == {6379, 16379}
    # The fleet and the create Job reach the nodes through base's egress-redis.
    egress = policies["egress-redis"]["spec"]["egress"]
    selectors = [t.get("podSelector", {}).get("matchLabels") for r in egress for t in r["to"]]
    assert {"app.kubernetes.io/name": "redis"} in selectors
    job = infra.by_kind(cluster_objects, "Job")["redis-cluster-create"]
    assert job["spec"]["template"]["metadata"]["labels"]["livews.io/redis-client"] == "true"
