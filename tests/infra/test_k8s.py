"""infra/k8s: every overlay renders with kustomize, every object validates against the
Kubernetes schemas, and the manifests keep the promises of docs/operations.md."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

OVERLAYS = ("dev", "prod", "prod-green", "prod-live-green")
FLEET = ("dev", "prod", "prod-live-green")
#: Oldest Kubernetes minor these manifests are written for.
K8S_VERSION = "1.30.0"
SECRET_NAMES = {"livews-secrets", "livews-redis"}
FLEET_APPS = {"auth", "gateway", "marketdata"}


def crd_schemas(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    crds = root / "infra" / "schemas" / "crds"
    return {
        ("monitoring.coreos.com/v1", "ServiceMonitor"): json.loads(
            (crds / "servicemonitor-monitoring-v1.json").read_text()
        ),
        ("monitoring.coreos.com/v1", "PrometheusRule"): json.loads(
            (crds / "prometheusrule-monitoring-v1.json").read_text()
        ),
    }


def validate(obj: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in crds:
        jsonschema.Draft202012Validator(crds[key]).validate(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


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


@pytest.mark.parametrize("overlay", FLEET)
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


@pytest.mark.parametrize("overlay", FLEET)
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


@pytest.mark.parametrize("overlay", FLEET)
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


@pytest.mark.parametrize("overlay", FLEET)
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


@pytest.mark.parametrize("overlay", FLEET)
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
    for overlay in FLEET:
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
        "livews/auth": "services/auth/Dockerfile",
        "livews/gateway": "services/gateway/Dockerfile",
        "livews/marketdata": "services/marketdata/Dockerfile",
        "livews/web": "web/Dockerfile",
        "livews/fyers-emulator": "tools/fyers-emulator/Dockerfile",
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


@pytest.mark.parametrize("overlay", FLEET)
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


@pytest.mark.parametrize("overlay", FLEET)
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
