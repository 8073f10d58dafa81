"""``make dev``: the whole system on this machine, on embedded defaults.

Starts every part that exists — an embedded Redis when ``REDIS_URL`` is unset, the Fyers
emulator when no Fyers app is configured, auth, the ingestor, a gateway and the web dev
server — with each line of output prefixed by its name. A change to a service's source
restarts that service. Ctrl-C (or SIGTERM) stops everything; nothing is left behind.

``LIVEWS_REDIS=cluster`` (a local 3×2 Redis Cluster) or ``LIVEWS_REDIS=sentinel`` (a primary,
2 replicas and 3 Sentinels) runs the embedded Redis as that topology instead of one server;
the services get the matching ``redis+cluster://`` / ``redis+sentinel://`` URL (CONTRACT §1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from livews_common import cli, redis_acl
from livews_common.settings import redact_redis_url, resolve_redis_url
from livews_devtools.ports import busy_ports
from livews_devtools.processes import script
from livews_devtools.redis_server import RedisServer, role_url
from livews_devtools.redis_topology import DEV_ENV, RedisTopology, make_redis, redis_kind

ROOT = Path(__file__).resolve().parents[4]
COLOURS = ["36", "35", "33", "32", "34", "31", "96"]


@dataclass
class Part:
    """One process of the dev fleet and the source trees whose changes restart it."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    watch: list[Path] = field(default_factory=list)
    cwd: Path = ROOT
    proc: asyncio.subprocess.Process | None = None


def _print(name: str, colour: str, line: str) -> None:
    tag = f"\x1b[{colour}m{name:>10}\x1b[0m" if sys.stdout.isatty() else f"{name:>10}"
    sys.stdout.write(f"{tag} | {line}\n")
    sys.stdout.flush()


class Fleet:
    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, part: Part) -> None:
        colour = COLOURS[self.parts.index(part) % len(COLOURS)]
        part.proc = await asyncio.create_subprocess_exec(
            *part.argv, env={**os.environ, **part.env}, cwd=part.cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        task = asyncio.create_task(self._pump(part, part.proc, colour))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump(self, part: Part, proc: asyncio.subprocess.Process, colour: str) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            _print(part.name, colour, raw.decode(errors="replace").rstrip())
        code = await proc.wait()
        if part.proc is proc:
            _print(part.name, colour, f"exited with {code}")

    async def stop(self, part: Part, grace: float = 15.0) -> None:
        proc, part.proc = part.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(p) for p in reversed(self.parts)))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def watch(self) -> None:
        """Restart a part when a file under one of its watched trees changes."""
        try:
            from watchfiles import awatch
        except ImportError:  # live reload is a convenience; run without it
            await asyncio.Event().wait()
            return
        roots = sorted({str(p) for part in self.parts for p in part.watch if p.exists()})
        if not roots:
            await asyncio.Event().wait()
        async for changes in awatch(*roots, watch_filter=lambda _c, path: path.endswith(".py")):
            changed = [Path(path) for _kind, path in changes]
            for part in self.parts:
                if any(root in c.parents for c in changed for root in part.watch):
                    _print("dev", "37", f"source changed: restarting {part.name}")
                    await self.stop(part)
                    await self.start(part)


def write_redis_urls(redis: RedisTopology) -> Path:
    """``$LIVEWS_STATE_DIR/redis/<user>.url`` (0600) for the admin and the consumer user."""
    state = Path(os.environ.get("LIVEWS_STATE_DIR", ROOT / ".livews")).resolve()
    directory = state / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    for user, url in ((redis_acl.ADMIN, redis.url),
                      (redis_acl.CONSUMER, redis.role_url(redis_acl.CONSUMER))):  # fmt: skip
        path = directory / f"{user}.url"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(url + "\n")
    return directory


def plan(args: argparse.Namespace, redis_url: str) -> tuple[list[Part], str]:
    state = Path(os.environ.get("LIVEWS_STATE_DIR", ROOT / ".livews")).resolve()
    common = {"LIVEWS_STATE_DIR": str(state), "LIVEWS_ENV": "dev"}
    common_src = ROOT / "libs" / "common" / "src"
    parts: list[Part] = []
    if not os.environ.get("FYERS_CLIENT_ID"):
        emu = f"http://127.0.0.1:{args.emulator_port}"
        common |= {
            "FYERS_API_BASE": f"{emu}/api/v3",
            "FYERS_DATA_BASE": f"{emu}/data",
            "FYERS_DATA_WS_URL": f"ws://127.0.0.1:{args.emulator_port}/hsm/v1-5/prod",
            "FYERS_CLIENT_ID": "DEVAPP0001-100",
            "FYERS_SECRET_KEY": "devsecret",
            "AUTH_FEED_PIN": "1234",
        }
        parts.append(Part("emulator", [script("fyers-emulator"), "--port", str(args.emulator_port)],
                          dict(common), [ROOT / "tools" / "fyers-emulator" / "src"]))  # fmt: skip
    auth_url = f"http://127.0.0.1:{args.auth_port}"
    common["AUTH_JWKS_URL"] = f"{auth_url}/auth/.well-known/jwks.json"
    for name, port in (("auth", args.auth_port), ("marketdata", args.marketdata_port),
                       ("gateway", args.gateway_port)):  # fmt: skip
        # Each service connects as its own Redis ACL user (livews_common.redis_acl) when the
        # Redis is the embedded one; a REDIS_URL of your own is passed on unchanged.
        env = {**common, "REDIS_URL": role_url(redis_url, name)}
        parts.append(Part(name, [script(f"livews-{name}"), "--port", str(port)], env,
                          [ROOT / "services" / name / "src", common_src]))  # fmt: skip
    url = f"{auth_url}/auth/login"
    web = ROOT / "web"
    npm = shutil.which("npm")
    if (web / "package.json").exists() and npm:
        if not (web / "node_modules").exists():
            _print("dev", "37", "installing the web app's packages (npm ci)…")
            import subprocess

            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=web, check=True)
        env = {"LIVEWS_AUTH_URL": auth_url,
               "LIVEWS_GATEWAY_URL": f"http://127.0.0.1:{args.gateway_port}"}  # fmt: skip
        parts.append(Part("web", [npm, "run", "dev", "--", "--host", "127.0.0.1", "--port",
                                  str(args.web_port), "--strictPort"], env, [], web))  # fmt: skip
        url = f"http://127.0.0.1:{args.web_port}/"
    return parts, url


async def run(args: argparse.Namespace) -> int:
    redis: RedisTopology | None = None
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        kind = redis_kind(None, DEV_ENV)
        redis = RedisServer(args.redis_port) if kind == "single" else make_redis(kind, DEV_ENV)
        redis.start()
        redis_url = redis.url
        _print("redis", "37", f"embedded Redis ({kind}) at {redact_redis_url(redis_url)}")
        if redis.acl:
            # Credentials go to files, never to the console: the admin URL (for redis-cli)
            # and the read-only consumer user an internal service would get.
            written = write_redis_urls(redis)
            _print("redis", "37", f"Redis user URLs (admin, consumer) in {written}")
    parts, url = plan(args, redis_url)
    fleet = Fleet(parts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher: asyncio.Task[None] | None = None
    try:
        for part in parts:
            await fleet.start(part)
        _print("dev", "37", f"LiveWebsocket is starting — open {url}  (Ctrl-C stops everything)")
        watcher = asyncio.create_task(fleet.watch())
        await stop.wait()
    finally:
        _print("dev", "37", "stopping…")
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await fleet.stop_all()
        if redis is not None:
            redis.close()
    return 0


#: The ``--*-port`` flags and the part each one is for.
PORT_FLAGS = {"web": "web_port", "auth": "auth_port", "gateway": "gateway_port",
              "marketdata": "marketdata_port", "emulator": "emulator_port"}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = cli.script_parser("livews-dev", "livews-devtools", __doc__.splitlines()[0])
    parser.add_argument("--web-port", type=cli.port, default=5173)
    parser.add_argument("--auth-port", type=cli.port, default=8001)
    parser.add_argument("--gateway-port", type=cli.port, default=8002)
    parser.add_argument("--marketdata-port", type=cli.port, default=8003)
    parser.add_argument("--emulator-port", type=cli.port, default=8090)
    parser.add_argument("--redis-port", type=int, default=0, help="embedded Redis port (0: any)")
    args = parser.parse_args(argv)
    if not 0 <= args.redis_port <= 65535:
        parser.error(f"argument --redis-port: {args.redis_port} is out of range (0-65535)")
    try:
        redis_kind(None, DEV_ENV)
    except ValueError as exc:
        cli.fail("livews-dev", str(exc))
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        cli.load_settings("livews-dev", lambda: resolve_redis_url(redis_url))
    ports = {name: getattr(args, flag) for name, flag in PORT_FLAGS.items()}
    if os.environ.get("FYERS_CLIENT_ID"):
        ports.pop("emulator")  # a real Fyers app: no emulator to start
    if args.redis_port:
        ports["redis"] = args.redis_port
    if args.check_config:
        items: list[tuple[str, object]] = [(f"--{n}-port", p) for n, p in ports.items()]
        state = os.environ.get("LIVEWS_STATE_DIR", str(ROOT / ".livews"))
        embedded = f"(embedded Redis: {os.environ.get(DEV_ENV) or 'single'})"
        items += [("REDIS_URL", redis_url or embedded),
                  ("LIVEWS_STATE_DIR", state)]  # fmt: skip
        cli.print_settings("livews-dev", items)
    # Checked before anything starts: a half-started fleet on a busy port helps nobody.
    busy = busy_ports(ports)
    if busy:
        cli.fail("livews-dev", f"port in use: {', '.join(busy)}; stop what listens there "
                 "or pick another with --<part>-port")  # fmt: skip
    if args.redis_port == 0:
        args.redis_port = None
    sys.exit(asyncio.run(run(args)))
