"""The Redis ACL users, as deployed: the checked-in template matches the roles table
(livews_common.redis_acl), what init.sh renders loads into a real redis-server with every
user able to sign in and the default user off, and compose and both k8s overlays give each
service its own user and nothing else."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from livews_common import redis_acl
from livews_devtools.ports import free_port
from livews_devtools.redis_server import ACL_MIN_VERSION, find_redis_server, redis_version

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "redis" / "users.acl"
#: compose service / k8s Deployment -> the Redis user it runs as.
SERVICE_USERS = {
    "auth": redis_acl.AUTH,
    "marketdata": redis_acl.MARKETDATA,
    "marketdata-standby": redis_acl.MARKETDATA,
    "gateway": redis_acl.GATEWAY,
}


def test_the_checked_in_template_is_rendered_from_the_roles_table() -> None:
    assert TEMPLATE.read_text() == redis_acl.acl_template(), (
        "infra/redis/users.acl is stale: python -m livews_common.redis_acl template "
        "> infra/redis/users.acl"
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, infra: Any) -> Iterator[Path]:
    """What the compose `init` service (and dev-secrets.sh) writes: secrets and the ACL dir."""
    infra.tool("openssl", "openssl")
    out = tmp_path_factory.mktemp("init")
    env = {"PATH": os.environ["PATH"], "SERVICE_UID": str(os.getuid()),
           "REDIS_ACL_DIR": str(out / "redis")}  # fmt: skip
    subprocess.run(["sh", str(ROOT / "infra/compose/init.sh"), str(out)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    yield out
    for path in out.rglob("*"):
        path.chmod(0o700)
    for directory in (out / "secrets", out / "redis"):
        directory.chmod(0o700)


def _passwords(rendered: Path) -> dict[str, str]:
    return {
        role: (rendered / "secrets" / f"redis-{role}-password").read_text().strip()
        for role in redis_acl.ROLE_NAMES
    }


def test_init_renders_what_the_roles_table_renders(rendered: Path) -> None:
    """The shell renderer (init.sh) and the Python one agree byte for byte."""
    from_shell = (rendered / "redis" / "users.acl").read_text()
    assert from_shell == redis_acl.acl_file(_passwords(rendered))
    assert "#" in from_shell and not any(p in from_shell for p in _passwords(rendered).values())
    admin = (rendered / "redis" / "admin-password").read_text().strip()
    assert admin == _passwords(rendered)["admin"]


def test_the_rendered_file_loads_and_every_user_signs_in(rendered: Path, tmp_path: Path) -> None:
    binary = find_redis_server()
    if redis_version(binary) < ACL_MIN_VERSION:
        pytest.skip(f"{binary} is older than Redis 7.0")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
         str(tmp_path), "--aclfile", str(rendered / "redis" / "users.acl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        signed_in = {}
        for role, password in _passwords(rendered).items():
            client = redis.Redis(port=port, username=role, password=password, socket_timeout=5)
            signed_in[role] = _ping_when_up(client)
            client.close()
        print(f"\nBOUND users signed in with their generated passwords: {sorted(signed_in)}")
        assert all(signed_in.values()), signed_in
        anonymous = redis.Redis(port=port, socket_timeout=5)
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        wrong = redis.Redis(port=port, username="gateway", password="nope", socket_timeout=5)
        with pytest.raises(redis.exceptions.AuthenticationError):
            wrong.ping()
        wrong.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _ping_when_up(client: redis.Redis, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_compose_runs_redis_with_the_acl_and_each_service_as_its_user(infra: Any) -> None:
    services = infra.load_yaml(ROOT / "docker-compose.yml")["services"]
    command = services["redis"]["command"]
    assert command[command.index("--aclfile") + 1] == "/etc/redis/livews/users.acl"
    assert "admin" in " ".join(services["redis"]["healthcheck"]["test"])
    for name, user in SERVICE_USERS.items():
        env = services[name]["environment"]
        assert env["REDIS_USERNAME"] == user, name
        assert env["REDIS_PASSWORD_FILE"] == f"/run/secrets/livews/redis-{user}-password", name
        assert "@" not in env["REDIS_URL"], f"{name}: no credentials in the URL"


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize(
    "overlay", ["dev", "prod", "prod-green", "prod-live-green", "prod-gateway-api", "prod-keda"]
)
def test_k8s_each_deployment_mounts_only_its_own_redis_password(infra: Any, overlay: str) -> None:
    seen = set()
    for name, pod in infra.pod_specs(infra.render(overlay)):
        user = SERVICE_USERS.get(name.removesuffix("-green"))
        if user is None:
            continue
        seen.add(name)
        env = _env(pod["containers"][0])
        assert env["REDIS_USERNAME"]["value"] == user, name
        path = env["REDIS_PASSWORD_FILE"]["value"]
        volumes = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") ==
                   "livews-redis"]  # fmt: skip
        keys = [item["key"] for v in volumes for item in v["secret"]["items"]]
        assert keys == [user], f"{name} mounts {keys} of livews-redis"
        assert path == "/run/secrets/redis/password", name
    if overlay == "prod-green":  # the green gateways only
        assert seen == {"gateway-green"}, seen
    else:
        assert {"auth", "gateway", "marketdata"} <= seen, seen


def test_k8s_dev_redis_loads_the_acl_file(infra: Any) -> None:
    redis_set = infra.by_kind(infra.render("dev"), "StatefulSet")["redis"]
    pod = redis_set["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--aclfile") + 1] == "/etc/redis/livews/users.acl"
    (acl,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "livews-redis"]
    assert {i["key"] for i in acl["secret"]["items"]} == {"users.acl", "admin"}
    probe = " ".join(pod["containers"][0]["readinessProbe"]["exec"]["command"])
    assert "--user admin" in probe


def test_dev_secrets_script_creates_every_key_the_manifests_mount() -> None:
    script = (ROOT / "infra" / "k8s" / "dev-secrets.sh").read_text()
    for key in (*redis_acl.ROLE_NAMES, "users.acl"):
        assert f"--from-file={key}=" in script, key
