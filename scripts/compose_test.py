"""``make compose-test``: the docker-compose fleet, run with podman and smoke-tested through nginx.

Reads docker-compose.yml and starts its services (profile ``dev``: the Fyers emulator stands in
for Fyers; not ``monitoring``) with plain ``podman run`` commands generated from it: the same
images, users, read-only root filesystems, dropped capabilities, tmpfs mounts, environment,
secrets volumes and commands. Then, as a browser would, through nginx over TLS:

1. ``GET /auth/login`` → the emulator's ``generate-authcode`` with ``fy_id=`` → ``/auth/callback``
   (refresh cookie) → ``POST /auth/token`` (an access JWT);
2. a Socket.IO client connects over ``wss://`` (trusting the fleet's self-signed certificate,
   which ``init`` generated), subscribes, and must receive a snapshot and live ticks.

Everything it started is removed at the end, also on failure (containers and volumes are named
``livews-ct-*``). Where podman cannot run a container at all, it prints why and exits 0 (SKIPPED).

How this differs from ``docker compose --profile dev up`` (docs/operations.md, "compose-test"):
this machine has no container networking, so every container runs with ``--network host``:
the ``edge``/``internal``/``upstream`` networks are not separate, services find each other at
127.0.0.1 instead of by name, and each listens on its own port from
infra/compose/compose-test.env (nginx's config is rendered for those ports, the web app's
listen port too). ``${VAR:-default}`` in the compose file takes its default (the run does not
depend on the caller's environment). Where public images cannot be pulled, ``init`` and
``redis`` run on localhost/livews-base:tools and nginx on localhost/livews-base:nginx
(scripts/local-base.sh). ``depends_on`` becomes the start order plus a readiness wait.

    usage: scripts/compose_test.py [--keep]     (--keep: leave the fleet running for a look)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PORTS_FILE = ROOT / "infra" / "compose" / "compose-test.env"
PREFIX = "livews-ct"
# The order `depends_on` implies (prometheus and grafana: profile monitoring, not started).
ORDER = (
    "init", "redis", "fyers-emulator", "auth", "marketdata", "marketdata-standby", "gateway",
    "web", "nginx",
)  # fmt: skip
PYTHON_SERVICES = {
    "fyers-emulator": "EMULATOR", "auth": "AUTH", "marketdata": "MARKETDATA",
    "marketdata-standby": "MARKETDATA_STANDBY", "gateway": "GATEWAY",
}  # fmt: skip
# Public images the fleet uses besides its own, and their stand-ins built from Debian packages.
LOCAL_STAND_INS = {
    "alpine:3.20": "localhost/livews-base:tools",
    "redis:7.2-alpine": "localhost/livews-base:tools",
    "nginx:1.27-alpine": "localhost/livews-base:nginx",
}
# The podman flags this sandbox needs (no CAP_SYS_RESOURCE: limits below the hard ones).
PODMAN_RUN = ("--network", "host", "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=8192:8192")
SYMBOL = "NSE:SBIN-EQ"
FY_ID = "XY12345"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def load_ports(path: Path = PORTS_FILE, environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """``COMPOSE_TEST_<NAME>_PORT`` lines of the env file, each overridable from ``environ``."""
    ports: dict[str, int] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = environ.get(key, value)
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise SystemExit(f"compose-test: {key}={value!r} is not a port (1-65535)")
        ports[key.removeprefix("COMPOSE_TEST_").removesuffix("_PORT")] = int(value)
    return ports


_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}``, always with the default (a hermetic run); ``$$`` is ``$``."""
    return _VAR.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def host_network_env(value: str, ports: Mapping[str, int]) -> str:
    """A service address of the compose network, as the same service on 127.0.0.1."""
    for old, new in (
        ("redis:6379", f"127.0.0.1:{ports['REDIS']}"),
        ("http://auth:8001", f"http://127.0.0.1:{ports['AUTH']}"),
        ("fyers.localtest.me:8090", f"127.0.0.1:{ports['EMULATOR']}"),
        ("localhost:8443", f"localhost:{ports['HTTPS']}"),
    ):
        value = value.replace(old, new)
    return value


def replace_block(conf: str, name: str, body: str) -> str:
    """Replace what is between ``# BEGIN name`` and ``# END name`` (infra/nginx/nginx.conf)."""
    pattern = re.compile(rf"(# BEGIN {name}\n)(.*?)(\n\s*# END {name})", re.S)
    if not pattern.search(conf):
        raise SystemExit(f"compose-test: infra/nginx/nginx.conf has no '# BEGIN {name}' block")
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), conf, count=1)


def render_nginx_conf(source: str, ports: Mapping[str, int]) -> str:
    """The compose nginx config with the fleet at 127.0.0.1 (no Docker DNS on the host network)."""
    fleet = "\n".join(
        f"    map $host $livews_{name} {{ default 127.0.0.1:{ports[key]}; }}"
        for name, key in (("gateway", "GATEWAY"), ("auth", "AUTH"), ("web", "WEB"))
    )
    conf = replace_block(source, "fleet", fleet)
    listen = (
        f"        listen 127.0.0.1:{ports['HTTP']};\n        listen 127.0.0.1:{ports['HTTPS']} ssl;"
    )
    conf = replace_block(conf, "listen", listen)
    # Workers run as uid 101 (as in the official image), the owner of the TLS key (init.sh).
    return "user nginx;\n" + conf


def render_web_conf(source: str, ports: Mapping[str, int]) -> str:
    conf, count = re.subn(r"listen 8080;", f"listen 127.0.0.1:{ports['WEB']};", source)
    if count != 1:
        raise SystemExit("compose-test: web/nginx.conf should have one 'listen 8080;'")
    return conf


@dataclass
class Container:
    service: str
    image: str
    args: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    oneshot: bool = False
    ready_url: str | None = None
    ready_port: int | None = None

    @property
    def name(self) -> str:
        return f"{PREFIX}-{self.service}"

    def argv(self, engine: str = "podman") -> list[str]:
        return [engine, "run", "-d", "--name", self.name, *PODMAN_RUN, *self.args, self.image,
                *self.command]  # fmt: skip


def plan(
    compose: Mapping[str, Any],
    ports: Mapping[str, int],
    config_dir: Path,
    *,
    stand_ins: Mapping[str, str] | None = LOCAL_STAND_INS,
) -> list[Container]:
    """The podman containers for ``compose``'s services, in start order, on the host network."""
    services: Mapping[str, Any] = compose["services"]
    out = []
    for service in ORDER:
        spec = services[service]
        image = str(spec["image"])
        if stand_ins and image in stand_ins:
            image = stand_ins[image]
        elif "/" not in image.split(":")[0] and not image.startswith("livews/"):
            image = f"docker.io/library/{image}"
        box = Container(service, image, oneshot=service == "init")
        box.args = container_args(service, spec, ports, config_dir)
        box.command = [str(c) for c in spec.get("command", [])]
        on_host_network(box, ports, config_dir)
        out.append(box)
    return out


def podman_tmpfs(mount: str) -> str:
    """Compose's ``uid=``/``gid=`` tmpfs options as podman 4's ``U`` (owned by the user)."""
    path, _, opts = mount.partition(":")
    kept = [o for o in opts.split(",") if o and not o.startswith(("uid=", "gid="))]
    if len(kept) < len([o for o in opts.split(",") if o]):
        kept.append("U")
    return f"{path}:{','.join(kept)}" if kept else path


def container_env(
    service: str, spec: Mapping[str, Any], ports: Mapping[str, int]
) -> dict[str, str]:
    """The service's environment, with compose-network addresses moved to 127.0.0.1 ports."""
    env = {k: interpolate(str(v)) for k, v in (spec.get("environment") or {}).items()}
    env = {k: host_network_env(v, ports) for k, v in env.items()}
    for key in ("AUTH_TRUSTED_PROXIES", "GATEWAY_TRUSTED_PROXIES"):
        if key in env:  # nginx now reaches them from 127.0.0.1
            env[key] += ",127.0.0.1/32"
    if service == "init":
        env["FYERS_REDIRECT_URI"] = f"https://localhost:{ports['HTTPS']}/auth/callback"
    return env


def container_args(
    service: str, spec: Mapping[str, Any], ports: Mapping[str, int], config_dir: Path
) -> list[str]:
    """``podman run`` options for one compose service (everything but networking)."""
    args: list[str] = []
    if "user" in spec:
        args += ["--user", str(spec["user"])]
    if spec.get("read_only"):
        args.append("--read-only")
    for cap in spec.get("cap_drop", []):
        args += ["--cap-drop", cap]
    for opt in spec.get("security_opt", []):
        args += ["--security-opt", opt]
    for mount in spec.get("tmpfs", []):
        args += ["--tmpfs", podman_tmpfs(str(mount))]
    for key, value in sorted(container_env(service, spec, ports).items()):
        args += ["-e", f"{key}={value}"]
    for volume in spec.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        if source == "./infra/nginx":
            source = str(config_dir / "nginx")
        elif source.startswith("./"):
            source = str(ROOT / source[2:])
        else:
            source = f"{PREFIX}_{source}"
        args += ["-v", f"{source}:{rest}"]
    if "entrypoint" in spec:
        args += ["--entrypoint", json.dumps(spec["entrypoint"])]
    return args


def on_host_network(box: Container, ports: Mapping[str, int], config_dir: Path) -> None:
    """Each service on its own 127.0.0.1 port, and how to tell that it is ready."""
    if box.service in PYTHON_SERVICES:
        port = ports[PYTHON_SERVICES[box.service]]
        box.command = ["--host", "127.0.0.1", "--port", str(port)]
        box.ready_url = f"http://127.0.0.1:{port}/healthz"
    elif box.service == "redis":
        box.command += ["--port", str(ports["REDIS"]), "--bind", "127.0.0.1", "--dir", "/data"]
        box.ready_port = ports["REDIS"]
    elif box.service == "web":
        box.args += ["-v", f"{config_dir / 'web-nginx.conf'}:/etc/livews-web/nginx.conf:ro"]
        box.ready_url = f"http://127.0.0.1:{ports['WEB']}/healthz"
    elif box.service == "nginx":
        box.ready_url = f"http://127.0.0.1:{ports['HTTP']}/lb-healthz"


# -- running ---------------------------------------------------------------------------------


def sh(argv: Sequence[str], *, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def stand_ins(engine: str) -> Mapping[str, str] | None:
    """None: the public images themselves; else the local Debian bases standing in for them.

    ``LIVEWS_IMAGE_BASE`` as for ``make images``: ``official``, ``local`` or ``auto`` (official
    when every public image can be pulled).
    """
    mode = os.environ.get("LIVEWS_IMAGE_BASE", "auto")
    if mode not in ("official", "local", "auto"):
        raise SystemExit(f"compose-test: LIVEWS_IMAGE_BASE must be official, local or auto: {mode}")
    if mode == "auto":
        pulled = all(
            subprocess.run(
                [engine, "pull", "-q", f"docker.io/library/{image}"],
                capture_output=True, timeout=300,
            ).returncode == 0
            for image in LOCAL_STAND_INS
        )  # fmt: skip
        mode = "official" if pulled else "local"
    if mode == "official":
        return None
    sh([str(ROOT / "scripts" / "local-base.sh"), engine], timeout=900)
    say("compose-test: public images out of reach: init/redis/nginx run on the local Debian bases")
    return LOCAL_STAND_INS


def podman_cannot_run(engine: str, image: str) -> str | None:
    """Why containers cannot run here, or None when a trivial one runs."""
    try:
        proc = subprocess.run(
            [engine, "run", "--rm", *PODMAN_RUN, "--entrypoint", "true", image],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if proc.returncode == 0 else proc.stderr.strip()[-400:]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_ready(engine: str, box: Container, deadline_s: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        state = sh([engine, "inspect", "--format", "{{.State.Status}}", box.name], check=False)
        if state.strip() in ("exited", "stopped"):
            raise RuntimeError(f"{box.service} exited before it was ready")
        try:
            if box.ready_url:
                if httpx.get(box.ready_url, timeout=2).status_code == 200:
                    return
            elif box.ready_port:
                with socket.create_connection(("127.0.0.1", box.ready_port), timeout=2):
                    return
            else:
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{box.service} not ready after {deadline_s:.0f} s")


def check_hardening(engine: str, boxes: Sequence[Container]) -> None:
    """Inside each running livews container: a non-root uid, and a root filesystem it cannot
    write (the images are built for `read_only: true`; a write there would fail at run time)."""
    probe = "id -u; touch /probe 2>/dev/null && echo writable || echo read-only"
    for box in boxes:
        if not box.image.startswith("livews/"):
            continue
        out = sh([engine, "exec", box.name, "sh", "-c", probe]).split()
        if out[0] == "0" or out[-1] != "read-only":
            raise RuntimeError(f"{box.service}: uid {out[0]}, root filesystem {out[-1]}")
    say("compose-test: every livews container runs as non-root on a read-only root filesystem")


def teardown(engine: str, boxes: Sequence[Container], compose: Mapping[str, Any]) -> None:
    for box in reversed(boxes):
        sh([engine, "rm", "-f", "-t", "5", box.name], check=False)
    for volume in compose.get("volumes", {}):
        sh([engine, "volume", "rm", "-f", f"{PREFIX}_{volume}"], check=False)


def dump_logs(engine: str, boxes: Sequence[Container]) -> None:
    for box in boxes:
        proc = subprocess.run(
            [engine, "logs", "--tail", "25", box.name], capture_output=True, text=True
        )
        sys.stderr.write(f"---- {box.service} ----\n{proc.stdout}{proc.stderr}\n")


@contextmanager
def fleet(engine: str, compose: Mapping[str, Any], ports: Mapping[str, int]) -> Iterator[Path]:
    """Start the fleet; yield the certificate nginx serves; remove everything on the way out."""
    with tempfile.TemporaryDirectory(prefix="livews-compose-test-") as tmp:
        config_dir = Path(tmp)
        (config_dir / "nginx").mkdir()
        conf = render_nginx_conf((ROOT / "infra/nginx/nginx.conf").read_text(), ports)
        (config_dir / "nginx" / "nginx.conf").write_text(conf)
        (config_dir / "web-nginx.conf").write_text(
            render_web_conf((ROOT / "web/nginx.conf").read_text(), ports)
        )
        config_dir.chmod(0o755)
        for path in config_dir.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        boxes = plan(compose, ports, config_dir, stand_ins=stand_ins(engine))
        teardown(engine, boxes, compose)  # what an interrupted run left behind
        started: list[Container] = []
        try:
            for box in boxes:
                t0 = time.monotonic()
                sh(box.argv(engine))
                started.append(box)
                if box.oneshot:
                    code = sh([engine, "wait", box.name], timeout=180).strip()
                    if code != "0":
                        raise RuntimeError(f"{box.service} exited {code}")
                else:
                    wait_ready(engine, box)
                say(f"compose-test: {box.service} ready in {time.monotonic() - t0:.1f} s")
            mount = sh([engine, "volume", "inspect", "--format", "{{.Mountpoint}}",
                        f"{PREFIX}_certs"]).strip()  # fmt: skip
            check_hardening(engine, boxes)
            yield Path(mount) / "tls.crt"
        except BaseException:
            dump_logs(engine, started)
            raise
        finally:
            if os.environ.get("COMPOSE_TEST_KEEP") != "1":
                teardown(engine, started, compose)
                say("compose-test: fleet removed")


# -- the browser-equivalent client -------------------------------------------------------------


def sign_in(base: str, tls: ssl.SSLContext) -> tuple[str, list[str]]:
    """The dashboard's sign-in through nginx: an access JWT, and the steps' statuses."""
    import httpx

    steps = []
    with httpx.Client(base_url=base, verify=tls, timeout=15) as client:
        page = client.get("/")  # the web image, behind nginx
        steps.append(f"GET / {page.status_code}")
        if page.status_code != 200 or '<div id="root">' not in page.text:
            raise RuntimeError(f"/ answered {page.status_code}: {page.text[:200]}")
        login = client.get("/auth/login", params={"next": "/"})
        steps.append(f"GET /auth/login {login.status_code}")
        if login.status_code != 302:
            raise RuntimeError(f"/auth/login answered {login.status_code}: {login.text[:200]}")
        location = login.headers["location"]
        sep = "&" if "?" in location else "?"
        authorized = client.get(f"{location}{sep}fy_id={FY_ID}")
        steps.append(f"emulator generate-authcode {authorized.status_code}")
        if authorized.status_code != 302:
            raise RuntimeError(f"generate-authcode answered {authorized.status_code}")
        back = client.get(authorized.headers["location"])
        steps.append(f"GET /auth/callback {back.status_code}")
        if back.status_code != 302 or "livews_refresh" not in client.cookies:
            raise RuntimeError(f"/auth/callback answered {back.status_code}: {back.text[:200]}")
        token = client.post("/auth/token")
        steps.append(f"POST /auth/token {token.status_code}")
        if token.status_code != 200:
            raise RuntimeError(f"/auth/token answered {token.status_code}: {token.text[:200]}")
        access: str = token.json()["access_token"]
        return access, steps


async def receive_ticks(
    url: str, token: str, tls: ssl.SSLContext, *, want: int = 3, within: float = 90.0
) -> dict[str, Any]:
    """Connect over wss:// through nginx, subscribe, and count live ticks of ``SYMBOL``."""
    import socketio

    got: dict[str, Any] = {"snapshot": None, "ticks": 0, "connect_errors": []}
    enough = asyncio.Event()
    sio = socketio.AsyncClient(reconnection=True, websocket_extra_options={"ssl": tls})

    async def _snapshot(data: Any) -> None:
        got["snapshot"] = data

    async def _ticks(data: Any) -> None:
        got["ticks"] += sum(1 for t in data if t.get("symbol") == SYMBOL)
        if got["ticks"] >= want:
            enough.set()

    async def _error(data: Any) -> None:
        got["connect_errors"].append(data)

    async def _connect() -> None:
        got["ack"] = await sio.call("subscribe", {"symbols": [SYMBOL], "mode": "quote"}, timeout=15)

    for event, handler in (
        ("snapshot", _snapshot), ("ticks", _ticks), ("connect_error", _error),
        ("connect", _connect),
    ):  # fmt: skip
        sio.on(event, handler)
    t0 = time.monotonic()
    await sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=15)
    try:
        got["transport"] = sio.transport()
        await asyncio.wait_for(enough.wait(), within)
        got["seconds"] = time.monotonic() - t0
    finally:
        await sio.disconnect()
    return got


def smoke(ports: Mapping[str, int], certificate: Path) -> None:
    tls = ssl.create_default_context(cafile=str(certificate))  # the fleet's own certificate
    base = f"https://localhost:{ports['HTTPS']}"
    token, steps = sign_in(base, tls)
    say("compose-test: signed in through nginx over TLS: " + "; ".join(steps))
    got = asyncio.run(receive_ticks(base, token, tls))
    say(
        f"compose-test: wss:// through nginx ({got['transport']}): subscribe ack {got.get('ack')}, "
        f"snapshot {'yes' if got['snapshot'] else 'no'}, {got['ticks']} live {SYMBOL} ticks "
        f"in {got['seconds']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--engine", default=os.environ.get("CONTAINER_ENGINE", "podman"))
    args = parser.parse_args(argv)
    if args.keep:
        os.environ["COMPOSE_TEST_KEEP"] = "1"
    import yaml

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    ports = load_ports()
    # Any image will do: livews/web:dev is what `make images` (a prerequisite) built last.
    missing = [
        f"livews/{name}:dev"
        for name in ("auth", "gateway", "marketdata", "fyers-emulator", "web")
        if subprocess.run(
            [args.engine, "image", "inspect", f"livews/{name}:dev"], capture_output=True
        ).returncode
    ]
    if missing:
        say(f"compose-test: no {', '.join(missing)}: run `make images` first")
        return 1
    why = podman_cannot_run(args.engine, "livews/web:dev")
    if why is not None:
        say(f"compose-test: SKIPPED: {args.engine} cannot run a container here ({why})")
        return 0
    busy = [f"COMPOSE_TEST_{k}_PORT={v}" for k, v in ports.items() if port_in_use(v)]
    if busy:
        say(f"compose-test: ports in use: {', '.join(busy)} (set others; {PORTS_FILE.name})")
        return 1
    t0 = time.monotonic()
    with fleet(args.engine, compose, ports) as certificate:
        say(f"compose-test: fleet up in {time.monotonic() - t0:.1f} s")
        smoke(ports, certificate)
    say(f"compose-test: PASSED in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
