"""docker-compose.yml: valid against the Compose Specification schema (vendored in
infra/schemas), and shaped as docs/operations.md promises. No Docker engine is needed."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

FLEET = ("auth", "gateway", "marketdata", "marketdata-standby")


@pytest.fixture(scope="module")
def compose(infra: Any) -> dict[str, Any]:
    data: dict[str, Any] = infra.load_yaml(infra.root / "docker-compose.yml")
    return data


def test_compose_file_validates_against_the_compose_spec(infra: Any, compose: Any) -> None:
    schema = json.loads((infra.root / "infra/schemas/compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # And the schema is the real one: it refuses an unknown service key.
    broken = {"services": {"x": {"image": "x", "replicaz": 2}}}
    assert list(validator.iter_errors(broken))


def test_the_fleet_and_its_profiles(compose: Any) -> None:
    services = compose["services"]
    assert {"init", "redis", "fyers-emulator", *FLEET, "web", "nginx"} <= set(services)
    assert services["fyers-emulator"]["profiles"] == ["dev"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    for name in ("redis", *FLEET, "web", "nginx", "init"):
        assert "profiles" not in services[name], f"{name} runs in every profile"


def test_gateway_can_be_scaled(compose: Any) -> None:
    gateway = compose["services"]["gateway"]
    # `--scale gateway=3` needs no fixed host port and no fixed container name.
    assert "ports" not in gateway and "container_name" not in gateway
    drain = int(gateway["environment"]["GATEWAY_DRAIN_SECONDS"])
    assert seconds(gateway["stop_grace_period"]) > drain


def test_two_ingestors_share_one_definition(compose: Any) -> None:
    leader, standby = (compose["services"][n] for n in ("marketdata", "marketdata-standby"))
    assert leader == standby
    assert leader["build"]["dockerfile"] == "infra/images/python.Dockerfile"
    assert leader["build"]["args"]["PACKAGE"] == "livews-marketdata"


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match.group(1))


def test_python_services_run_locked_down(compose: Any) -> None:
    for name in (*FLEET, "fyers-emulator"):
        service = compose["services"][name]
        assert service["user"] == "10001:10001", name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert any(t.startswith("/tmp") for t in service["tmpfs"]), name


def test_builds_and_mounts_exist(infra: Any, compose: Any) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["context"] == "."
            assert (infra.root / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and not source.startswith("./infra/nginx"):
                assert (infra.root / source).exists(), f"{name}: {source}"
    nginx = compose["services"]["nginx"]
    assert "./infra/nginx:/etc/nginx/livews:ro" in nginx["volumes"]


SECRETISH = re.compile(r"(KEY|SECRET|PIN|PASSWORD|TOKEN)$")


def test_no_secret_values_in_the_compose_file(compose: Any) -> None:
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        for var, value in environment.items():
            if SECRETISH.search(var) and value:
                # Only interpolation from the developer's own environment or .env.
                assert re.fullmatch(r"\$\{[A-Z_]+(:-[^}]*)?\}", str(value)), f"{name} {var}"
            if var.endswith("_FILE"):
                assert str(value).startswith("/run/secrets/livews/"), f"{name} {var}"


def test_init_generates_every_secret_file_the_services_read(
    infra: Any, compose: Any, tmp_path: Path
) -> None:
    openssl = infra.tool("openssl", "openssl")
    assert openssl
    out = tmp_path / "out"
    env = {"PATH": os.environ["PATH"], "SERVICE_UID": str(os.getuid())}
    script = infra.root / "infra/compose/init.sh"
    for _ in range(2):  # the second run keeps what the first wrote
        subprocess.run(["sh", str(script), str(out)], env=env, check=True, capture_output=True)
    secrets = out / "secrets"
    files = {p.name: p for p in secrets.iterdir()}
    for name, service in compose["services"].items():
        for var, value in service.get("environment", {}).items():
            if var.endswith("_FILE"):
                key = str(value).removeprefix("/run/secrets/livews/")
                assert key in files, f"{name}: {var} names {key}, which init.sh does not write"
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o400, path
        assert path.read_text().strip(), path
    assert "BEGIN PRIVATE KEY" in files["auth-signing-key"].read_text()
    assert len(files["token-key"].read_text()) == 44  # a Fernet key
    assert (out / "certs" / "tls.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    for path in (secrets, *files.values()):
        path.chmod(0o700)


#: The secret files each service may see (issue #12): auth mints and seals; the ingestors only
#: open the sealed feed token; everything else — the gateways above all — sees none, but for
#: the password of its own Redis ACL user; Redis its ACL file and the admin password.
AUTH_SECRETS = {"token-key", "auth-signing-key", "fyers-client-id", "fyers-secret-key",
                "fyers-redirect-uri", "feed-pin", "redis-auth-password"}  # fmt: skip
EXPECTED_SECRETS: dict[str, set[str]] = {
    "auth": AUTH_SECRETS,
    "marketdata": {"token-key", "redis-marketdata-password"},
    "marketdata-standby": {"token-key", "redis-marketdata-password"},
    "gateway": {"redis-gateway-password"},
    "redis": {"users.acl", "admin-password"},
    "nginx": {"tls.crt", "tls.key"},  # the `certs` volume: its own TLS key
}


def _visible_secrets(infra: Any, compose: Any, tmp_path: Path) -> dict[str, set[str]]:
    """Run init.sh as the `init` service does; then, per service, the secret files inside the
    volumes it mounts (by what init.sh wrote into each volume, not by their names)."""
    infra.tool("openssl", "openssl")
    init = compose["services"]["init"]
    mounts = dict(reversed(v.split(":")[:2]) for v in init["volumes"])  # target -> volume
    env = {"PATH": os.environ["PATH"], "SERVICE_UID": str(os.getuid())}
    written: dict[str, Path] = {}  # volume -> its directory here
    for var, value in init["environment"].items():
        if var.endswith("_DIR") and str(value) in mounts:
            volume = mounts[str(value)]
            written[volume] = tmp_path / volume
            env[var] = str(written[volume])
    script = infra.root / "infra/compose/init.sh"
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
    contents = {v: {p.name for p in d.iterdir()} for v, d in written.items() if d.is_dir()}
    for directory in written.values():
        for path in (directory, *directory.iterdir()):
            path.chmod(0o700)
    visible: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        if name == "init":
            continue
        seen: set[str] = set()
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            seen |= contents.get(source, set())
        visible[name] = seen
    return visible


def test_each_service_sees_only_its_own_secrets(infra: Any, compose: Any, tmp_path: Path) -> None:
    visible = _visible_secrets(infra, compose, tmp_path)
    for name, seen in visible.items():
        assert seen == EXPECTED_SECRETS.get(name, set()), f"{name} sees {sorted(seen)}"
    for name in ("fyers-emulator", "web"):
        assert not visible[name], name
    # Every *_FILE a service is told to read is among the files it can see.
    for name, service in compose["services"].items():
        for var, value in service.get("environment", {}).items():
            if var.endswith("_FILE"):
                key = str(value).removeprefix("/run/secrets/livews/")
                assert key in visible.get(name, set()), f"{name}: {var} names {key}, not mounted"
    # The volume holding everything is init's alone.
    for name, service in compose["services"].items():
        sources = {v.split(":", 1)[0] for v in service.get("volumes", [])}
        assert name == "init" or "secrets" not in sources, name


EXPECTED_NETWORKS = {
    "nginx": {"edge", "internal"},
    "redis": {"internal"},
    "gateway": {"internal"},
    "web": {"internal"},
    "auth": {"internal", "upstream"},
    "marketdata": {"internal", "upstream"},
    "marketdata-standby": {"internal", "upstream"},
    "fyers-emulator": {"upstream"},
}


def _networks(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks", ["default"])
    return set(networks if isinstance(networks, list) else networks.keys())


def test_edge_and_internal_networks(compose: Any) -> None:
    services, networks = compose["services"], compose["networks"]
    for name, expected in EXPECTED_NETWORKS.items():
        assert _networks(services[name]) == expected, name
    # `internal` has no route out; only nginx joins it from `edge`.
    assert networks["internal"].get("internal") is True
    on_edge = {n for n, s in services.items() if "edge" in _networks(s)}
    assert on_edge == {"nginx"}
    # Nobody lands on an implicit flat `default` network.
    assert all("default" not in _networks(s) for s in services.values())
    # A published port needs a network with a route out; only these publish.
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"nginx", "fyers-emulator", "prometheus", "grafana"}
    for name in published:
        assert _networks(services[name]) - {"internal"}, name
    # The emulator stands where Fyers stands: the fleet's internals cannot reach it, nor it them.
    assert "internal" not in _networks(services["fyers-emulator"])
    alias = services["fyers-emulator"]["networks"]["upstream"]["aliases"]
    assert "fyers.localtest.me" in alias
