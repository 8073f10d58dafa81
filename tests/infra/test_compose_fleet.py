"""`make compose-test` (scripts/compose_test.py), checked without a container engine: the podman
commands it generates from docker-compose.yml keep every hardening of the compose file, move
every service address to its own 127.0.0.1 port (the smoke test runs on the host network),
and the nginx configs it renders pass `nginx -t`. The run itself (images built, the fleet up,
a sign-in and ticks over wss:// through nginx) is `make compose-test`, which .ci/run runs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What already listens on this machine, and what a real `docker compose up` publishes.
TAKEN = {6379, 5432, 5672, 4222, 1883, 8080, 8443, 8090, 8001, 8002, 8003}


@pytest.fixture(scope="module")
def ct() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_test", ROOT / "scripts/compose_test.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["compose_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compose(infra: Any) -> Any:
    return infra.load_yaml(infra.root / "docker-compose.yml")


@pytest.fixture(scope="module")
def boxes(ct: ModuleType, compose: Any) -> list[Any]:
    ports = ct.load_ports(environ={})
    result: list[Any] = ct.plan(compose, ports, Path("/cfg"))
    return result


def test_ports_are_distinct_and_clear_of_the_machines_services(ct: ModuleType) -> None:
    ports = ct.load_ports(environ={})
    print(f"\nCOMPOSE-TEST ports {ports}")
    assert len(set(ports.values())) == len(ports) == 9
    assert not set(ports.values()) & TAKEN
    assert ct.load_ports(environ={"COMPOSE_TEST_REDIS_PORT": "26379"})["REDIS"] == 26379
    with pytest.raises(SystemExit, match="COMPOSE_TEST_WEB_PORT='84536' is not a port"):
        ct.load_ports(environ={"COMPOSE_TEST_WEB_PORT": "84536"})


def test_every_fleet_service_is_started_in_dependency_order(
    ct: ModuleType, compose: Any, boxes: list[Any]
) -> None:
    services = compose["services"]
    wanted = {n for n, s in services.items() if set(s.get("profiles", ["dev"])) & {"dev"}}
    assert {b.service for b in boxes} == wanted
    order = [b.service for b in boxes]
    for name in order:
        for dep in services[name].get("depends_on", {}):
            assert order.index(dep) < order.index(name), (dep, name)


def test_hardening_of_the_compose_file_is_kept(compose: Any, boxes: list[Any]) -> None:
    for box in boxes:
        spec = compose["services"][box.service]
        argv = box.argv()
        assert argv[:3] == ["podman", "run", "-d"]
        if spec.get("read_only"):
            assert "--read-only" in argv, box.service
        if "user" in spec:
            assert argv[argv.index("--user") + 1] == spec["user"], box.service
        if spec.get("cap_drop"):
            assert argv[argv.index("--cap-drop") + 1] == "ALL", box.service
        for opt in spec.get("security_opt", []):
            assert opt in argv, box.service
    gateway = next(b for b in boxes if b.service == "gateway")
    assert "/var/lib/livews:size=64m,U" in gateway.args, "owned by the service's uid"


def test_service_addresses_move_to_their_own_host_ports(ct: ModuleType, boxes: list[Any]) -> None:
    ports = ct.load_ports(environ={})
    env = {}
    for box in boxes:
        pairs = [box.args[i + 1] for i, a in enumerate(box.args) if a == "-e"]
        env[box.service] = dict(p.split("=", 1) for p in pairs)
        joined = " ".join(pairs)
        for name in ("redis:6379", "auth:8001", "fyers.localtest.me", "localhost:8443", "${"):
            assert name not in joined, (box.service, name)
    assert env["gateway"]["REDIS_URL"] == f"redis://127.0.0.1:{ports['REDIS']}/0"
    assert env["gateway"]["AUTH_JWKS_URL"].startswith(f"http://127.0.0.1:{ports['AUTH']}/")
    assert env["auth"]["AUTH_ALLOWED_ORIGINS"] == f"https://localhost:{ports['HTTPS']}"
    assert env["marketdata"]["FYERS_DATA_WS_URL"].startswith(f"ws://127.0.0.1:{ports['EMULATOR']}")
    assert env["init"]["FYERS_REDIRECT_URI"].startswith(f"https://localhost:{ports['HTTPS']}/")
    listens = {}
    for box in boxes:
        if "--port" in box.command:
            listens[box.service] = int(box.command[box.command.index("--port") + 1])
    assert listens["marketdata"] != listens["marketdata-standby"]
    assert listens["redis"] == ports["REDIS"] and listens["gateway"] == ports["GATEWAY"]


def test_rendered_nginx_configs_pass_nginx_t(ct: ModuleType, infra: Any, tmp_path: Path) -> None:
    nginx = infra.tool("nginx", "nginx")
    ports = ct.load_ports(environ={})
    lb = ct.render_nginx_conf((infra.root / "infra/nginx/nginx.conf").read_text(), ports)
    assert lb.startswith("user nginx;\n")
    assert f"default 127.0.0.1:{ports['GATEWAY']};" in lb
    assert f"listen 127.0.0.1:{ports['HTTPS']} ssl;" in lb
    assert "resolver 127.0.0.11" not in lb, "no Docker DNS on the host network"
    # `user nginx` needs that account, which the nginx image has and this machine may not.
    (tmp_path / "lb.conf").write_text("pid lb.pid;\n" + lb.removeprefix("user nginx;\n"))
    infra.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "lb.conf")])
    web = ct.render_web_conf((infra.root / "web/nginx.conf").read_text(), ports)
    assert re.search(rf"listen 127\.0\.0\.1:{ports['WEB']};", web)
    (tmp_path / "web.conf").write_text(web.replace("/tmp/", f"{tmp_path}/"))
    infra.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "web.conf")])


def test_tmpfs_and_interpolation(ct: ModuleType) -> None:
    assert ct.podman_tmpfs("/tmp:size=64m") == "/tmp:size=64m"
    assert ct.podman_tmpfs("/x:size=1m,uid=1,gid=1") == "/x:size=1m,U"
    assert ct.interpolate("${LIVEWS_ENV:-dev}") == "dev"
    assert ct.interpolate("${FYERS_CLIENT_ID:-}") == ""
    assert ct.interpolate('"$$(cat f)"') == '"$(cat f)"'


def run_container_deps(tmp_path: Path, stubs: dict[str, str], **env: str) -> tuple[str, str]:
    """scripts/container-deps.sh with only these programs on PATH (plus `id`): its stdout and
    what the stubs were asked to do."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(parents=True)
    (bin_dir / "id").symlink_to("/usr/bin/id")
    for name, body in stubs.items():
        (bin_dir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> "{log}"\n{body}\n')
        (bin_dir / name).chmod(0o755)
    proc = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts/container-deps.sh")],
        capture_output=True, text=True, timeout=30, env={"PATH": str(bin_dir), **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), log.read_text() if log.exists() else ""


@pytest.mark.skipif(os.geteuid() != 0, reason="the script uses sudo when not root")
def test_container_deps_installs_podman_only_where_no_engine_is(tmp_path: Path) -> None:
    engine, calls = run_container_deps(tmp_path / "bare", {"apt-get": ""})
    assert engine == "podman"
    (install,) = [c for c in calls.splitlines() if c.startswith("apt-get install")]
    assert {"podman", "runc"} <= set(install.split()), install
    # An engine already there: nothing installed (debootstrap not needed for official bases).
    present = {"podman": "", "runc": "", "apt-get": ""}
    engine, calls = run_container_deps(tmp_path / "ready", present, LIVEWS_IMAGE_BASE="official")
    assert engine == "podman" and "apt-get" not in calls, calls
    engine, calls = run_container_deps(
        tmp_path / "docker", {"docker": "exit 0", "apt-get": ""}, LIVEWS_IMAGE_BASE="official"
    )
    assert engine == "docker" and "apt-get" not in calls, calls
