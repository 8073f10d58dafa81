"""Start livews-gateway (and the repository's nginx in front of several) for tests.

For tests (fixtures come from the root conftest.py)::

    def test_x(gateway, token_mint, redis_client):      # a gateway trusting token_mint's keys
        token = token_mint.mint(sub="XY1")                # an ES256 access JWT
        ...connect to gateway.url with auth={"token": token}...
        await publish_tick(redis_client, make_tick("NSE:SBIN-EQ", seq=1))

    def test_y(spawn, tmp_path, redis_url, auth_service):  # behind the real auth service
        gw = [start_gateway(spawn, tmp_path, redis_url, auth_service.jwks_url, name=f"gw{i}")
              for i in range(3)]
        lb = start_nginx(spawn, tmp_path, [g.port for g in gw], auth_port=auth_service.port)

``start_nginx`` renders ``infra/nginx/nginx.conf`` (the file docker-compose runs) for the
test's ports — only the blocks between its ``# BEGIN``/``# END`` markers change — and runs
``nginx -p <dir> -c <conf> -g 'daemon off; pid …;'`` as a managed process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.pytest_plugin import Spawn

REPO_ROOT = Path(__file__).resolve().parents[4]
NGINX_CONF = REPO_ROOT / "infra" / "nginx" / "nginx.conf"
JWKS_PATH = "/auth/.well-known/jwks.json"


# -- tokens without the auth service ------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenMint:
    """An ES256 signing key, its JWKS served over HTTP, and a way to mint access tokens.

    A stand-in for the auth service where a test only needs tokens the gateway accepts
    (and variations it must refuse). ``url`` is what ``AUTH_JWKS_URL`` should be.
    """

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.fetches = 0

    def jwk(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        doc.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return doc

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims (sub, sid, scope md:read, 15 min) with ``overrides`` applied."""
        now = int(time.time())
        ttl = int(overrides.pop("ttl", 900))
        claims: dict[str, Any] = {
            "iss": "livews-auth", "aud": "livews", "sub": "XY12345",
            "sid": f"sess-{uuid.uuid4().hex[:12]}", "scope": "md:read", "iat": now,
            "exp": now + ttl, "jti": uuid.uuid4().hex,
        }  # fmt: skip
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, **overrides: Any) -> str:
        """A token the gateway accepts (unless ``overrides`` spoil it); ``ttl=`` seconds."""
        return self.sign(self.claims(**overrides))

    def sign(self, claims: Mapping[str, Any], *, key: Any = None, kid: str | None = None) -> str:
        """ES256-sign ``claims`` with ``key`` (default: this mint's) under ``kid``."""
        return jwt.encode(
            dict(claims), key or self.key, algorithm="ES256", headers={"kid": kid or self.kid}
        )

    def sign_raw(self, header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
        """HS256 over ``header``.``claims`` with ``secret`` (for forged-token tests)."""
        signing_input = (
            _b64(json.dumps(dict(header)).encode()) + "." + _b64(json.dumps(dict(claims)).encode())
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(signature)

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # -- the JWKS endpoint ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("TokenMint.start() was not called")
        return f"http://127.0.0.1:{self._server.server_address[1]}{JWKS_PATH}"

    def start(self) -> TokenMint:
        mint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                mint.fetches += 1
                body = json.dumps(mint.jwks()).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@pytest.fixture
def token_mint() -> Iterator[TokenMint]:
    """A started :class:`TokenMint`: point a gateway's AUTH_JWKS_URL at ``token_mint.url``."""
    mint = TokenMint().start()
    try:
        yield mint
    finally:
        mint.close()


# -- the gateway process ------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayProcess:
    """A running livews-gateway."""

    process: ServiceProcess
    port: int
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> dict[str, float]:
        """/metrics as ``{"name{labels}": value}`` (samples only)."""
        return parse_metrics(httpx.get(f"{self.url}/metrics", timeout=5.0).text)

    def metric(self, name: str, **labels: str) -> float:
        """One sample (0.0 when absent): ``metric("livews_gateway_connections")``."""
        key = name
        if labels:
            key += "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        return self.metrics().get(key, 0.0)


def parse_metrics(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if "{" in name:  # normalise label order so lookups do not depend on it
            base, _, rest = name.partition("{")
            labels = sorted(re.findall(r'(\w+="[^"]*")', rest))
            name = base + "{" + ",".join(labels) + "}"
        try:
            samples[name] = float(value)
        except ValueError:
            continue
    return samples


def gateway_env(redis_url: str, jwks_url: str, **env: str) -> dict[str, str]:
    """The environment ``start_gateway`` runs livews-gateway with (``env`` overrides)."""
    return {
        "REDIS_URL": redis_url,
        "AUTH_JWKS_URL": jwks_url,
        "LIVEWS_ENV": "dev",
        # Tests spread their calls out less than browsers; limits get their own tests.
        "GATEWAY_SUBSCRIBE_RATE": "50",
        "GATEWAY_SUBSCRIBE_BURST": "100",
        "GATEWAY_DRAIN_SECONDS": "1",
        "GATEWAY_VERDICT_WAIT": "0.3",
        **env,
    }


def start_gateway(
    spawn: Spawn,
    tmp_path: Path,
    redis_url: str,
    jwks_url: str,
    *,
    name: str = "livews-gateway",
    port: int | None = None,
    ready: bool = True,
    **env: str,
) -> GatewayProcess:
    """Start livews-gateway; wait for /healthz and (with ``ready``) /readyz to answer 200.

    Keyword arguments are extra environment variables (``GATEWAY_MAX_SYMBOLS="5"``).
    """
    port = port or free_port()
    full_env = gateway_env(redis_url, jwks_url, **env)
    full_env.setdefault("GATEWAY_INSTANCE_ID", f"{name}-{port}")
    proc = spawn(
        name,
        [script("livews-gateway"), "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    if ready:
        proc.wait_healthy(30.0, path_url=f"http://127.0.0.1:{port}/readyz")
    return GatewayProcess(proc, port, full_env)


@pytest.fixture
def gateway(spawn: Spawn, tmp_path: Path, redis_url: str, token_mint: TokenMint) -> GatewayProcess:
    """A livews-gateway on the test's Redis, trusting ``token_mint``'s key."""
    return start_gateway(spawn, tmp_path, redis_url, token_mint.url)


# -- market data straight into Redis (CONTRACT §4) ----------------------------------------


def make_tick(symbol: str, seq: int, *, ltp: float = 100.0, **fields: Any) -> dict[str, Any]:
    """A Tick v1 (every field present; quote fields null for an index)."""
    now = int(time.time() * 1000)
    index = symbol.endswith("-INDEX")
    tick: dict[str, Any] = {
        "v": 1, "symbol": symbol, "kind": "index" if index else "quote", "seq": seq,
        "ltp": ltp, "open": ltp, "high": ltp, "low": ltp, "prev_close": ltp, "change": 0.0,
        "change_pct": 0.0, "volume": None if index else 1000 + seq, "ltq": None if index else 1,
        "avg_price": None if index else ltp, "bid": None if index else ltp - 0.05,
        "ask": None if index else ltp + 0.05, "bid_qty": None if index else 10,
        "ask_qty": None if index else 10, "tot_buy_qty": None if index else 100,
        "tot_sell_qty": None if index else 100, "ltt": now, "exch_ts": now, "ingest_ts": now,
    }  # fmt: skip
    tick.update(fields)
    return tick


def make_depth(symbol: str, seq: int, **fields: Any) -> dict[str, Any]:
    """A Depth v1 with five levels a side."""
    depth: dict[str, Any] = {
        "v": 1, "symbol": symbol, "seq": seq,
        "bids": [[100.0 - i * 0.05, 10 * (i + 1), i + 1] for i in range(5)],
        "asks": [[100.05 + i * 0.05, 10 * (i + 1), i + 1] for i in range(5)],
        "ingest_ts": int(time.time() * 1000),
    }  # fmt: skip
    depth.update(fields)
    return depth


async def publish_tick(redis: Any, tick: Mapping[str, Any], *, store: bool = True) -> None:
    """As the ingestor does: HSET md:last (unless ``store`` is False), then PUBLISH."""
    data = json.dumps(dict(tick), separators=(",", ":"))
    if store:
        await redis.hset("md:last", tick["symbol"], data)
    await redis.publish(f"md:tick:{tick['symbol']}", data)


async def publish_depth(redis: Any, depth: Mapping[str, Any], *, store: bool = True) -> None:
    data = json.dumps(dict(depth), separators=(",", ":"))
    if store:
        await redis.hset("md:depth:last", depth["symbol"], data)
    await redis.publish(f"md:depth:{depth['symbol']}", data)


# -- nginx in front -----------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError("nginx is not installed (scripts/system-deps.sh installs it)")
    return found


def _replace_block(conf: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(?ms)^(\s*)# BEGIN {name}\n.*?^\s*# END {name}\n")
    if not pattern.search(conf):
        raise ValueError(f"infra/nginx/nginx.conf has no '# BEGIN {name}' block")
    return pattern.sub(
        lambda m: "".join(m.group(1) + line + "\n" for line in body.splitlines()), conf
    )


def render_nginx_conf(
    listen_port: int,
    gateway_ports: Sequence[int],
    *,
    auth_port: int | None = None,
    web_root: Path | None = None,
    source: Path = NGINX_CONF,
) -> str:
    """``infra/nginx/nginx.conf`` for processes on 127.0.0.1 (no TLS listener).

    The gateways become one upstream group (a gateway that fails a connect is skipped for
    2 s); ``/auth/`` goes to ``auth_port`` (502 when None); ``/`` serves ``web_root``
    (a built web app) when given, else proxies to nothing (502).
    """
    servers = "\n".join(
        f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in gateway_ports
    )
    fleet = (
        f"upstream livews_gateways {{\n{servers}\n}}\n"
        f"upstream livews_auth_service {{\n    server 127.0.0.1:{auth_port or 9};\n}}\n"
        "map $host $livews_gateway { default livews_gateways; }\n"
        "map $host $livews_auth { default livews_auth_service; }\n"
        "map $host $livews_web { default 127.0.0.1:9; }"
    )
    conf = source.read_text()
    conf = _replace_block(conf, "fleet", fleet)
    conf = _replace_block(conf, "listen", f"listen 127.0.0.1:{listen_port};")
    if web_root is not None:
        conf = _replace_block(
            conf, "web", f"location / {{\n    root {web_root};\n    try_files $uri /index.html;\n}}"
        )
    return conf


@dataclass(frozen=True)
class Nginx:
    """A running nginx with the repository's config."""

    process: ServiceProcess
    port: int
    conf_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_nginx(
    spawn: Spawn,
    tmp_path: Path,
    gateway_ports: Sequence[int],
    *,
    auth_port: int | None = None,
    web_root: Path | None = None,
    name: str = "nginx",
    port: int | None = None,
) -> Nginx:
    """Run the repository's nginx config in front of ``gateway_ports`` (see the module doc)."""
    port = port or free_port()
    prefix = tmp_path / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(
        render_nginx_conf(port, gateway_ports, auth_port=auth_port, web_root=web_root)
    )
    proc = spawn(
        name,
        [
            nginx_binary(),
            "-p",
            str(prefix),
            "-c",
            str(conf_path),
            "-g",
            f"daemon off; pid {prefix / 'nginx.pid'};",
        ],
        health_url=f"http://127.0.0.1:{port}/lb-healthz",
    )
    return Nginx(proc, port, conf_path)
