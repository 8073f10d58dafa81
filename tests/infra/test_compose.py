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
    assert leader["build"]["dockerfile"] == "services/marketdata/Dockerfile"


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
