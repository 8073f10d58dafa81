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

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from livews_common import redis_acl
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.pytest_plugin import Spawn
from livews_devtools.redis_server import role_url

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
        # Its own least-privilege Redis user when redis_url is a devtools admin URL.
        "REDIS_URL": role_url(redis_url, redis_acl.GATEWAY),
        "AUTH_JWKS_URL": jwks_url,
        "LIVEWS_ENV": "dev",
        # Tests spread their calls out less than browsers; limits get their own tests.
        "GATEWAY_SUBSCRIBE_RATE": "50",
        "GATEWAY_SUBSCRIBE_BURST": "100",
        "GATEWAY_DRAIN_SECONDS": "1",
        "GATEWAY_VERDICT_WAIT": "0.3",
        # Tests (and the bench) open many connections as one user; quotas get their own tests.
        "GATEWAY_MAX_CONNECTIONS_PER_USER": "100000",
        "GATEWAY_MAX_SYMBOLS_PER_USER": "100000",
        "GATEWAY_PROBES_PER_MINUTE": "100000",
        # Every test client comes from 127.0.0.1 (through nginx, a trusted proxy), hundreds
        # at once, and floods are expected to meet the per-event limits first: admission and
        # the inbound budget stay on, sized far above that (tests/e2e/test_hostile_transport.py
        # sets its own).
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
        "GATEWAY_MAX_PENDING": "5000",
        "GATEWAY_ADDRESS_MAX_CONNECTIONS": "100000",
        "GATEWAY_ADDRESS_HANDSHAKE_RATE": "100000",
        "GATEWAY_ADDRESS_HANDSHAKE_BURST": "100000",
        "GATEWAY_INBOUND_MESSAGE_RATE": "1000",
        "GATEWAY_INBOUND_MESSAGE_BURST": "1000",
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


# The MIME types of a Vite build: browsers refuse module scripts served as text/plain.
_WEB_TYPES = (
    "    types {\n"
    "        text/html html;\n        application/javascript js mjs;\n        text/css css;\n"
    "        application/json json;\n        image/svg+xml svg;\n        image/png png;\n"
    "        image/x-icon ico;\n        font/woff2 woff2;\n        text/plain txt;\n"
    "    }\n    default_type application/octet-stream;\n"
)


@dataclass(frozen=True)
class EdgeLimits:
    """nginx's per-client-address limits (the ``limits*`` blocks of infra/nginx/nginx.conf)."""

    ws_connections: int  # open /socket.io connections
    ws_rate: int  # /socket.io requests (websocket handshakes) per second ...
    ws_burst: int  # ... with this many above the rate allowed at once
    auth_connections: int  # concurrent /auth requests
    auth_rate: int
    auth_burst: int

    def blocks(self) -> dict[str, str]:
        return {
            "limits": (
                "limit_conn_zone $binary_remote_addr zone=livews_ws_conn:10m;\n"
                "limit_req_zone $binary_remote_addr zone=livews_ws_req:10m "
                f"rate={self.ws_rate}r/s;\n"
                "limit_conn_zone $binary_remote_addr zone=livews_auth_conn:10m;\n"
                "limit_req_zone $binary_remote_addr zone=livews_auth_req:10m "
                f"rate={self.auth_rate}r/s;"
            ),
            "limits-socketio": (
                f"limit_conn livews_ws_conn {self.ws_connections};\n"
                f"limit_req zone=livews_ws_req burst={self.ws_burst} nodelay;"
            ),
            "limits-auth": (
                f"limit_conn livews_auth_conn {self.auth_connections};\n"
                f"limit_req zone=livews_auth_req burst={self.auth_burst} nodelay;"
            ),
        }


#: Every test client comes from 127.0.0.1, hundreds at once (bench/, tests/e2e): the test
#: fleet's nginx keeps the limits but far above any test's load. ``limits=None`` renders
#: the production values as committed (tests/e2e/test_hostile_edge.py).
TEST_EDGE_LIMITS = EdgeLimits(65_535, 100_000, 100_000, 65_535, 100_000, 100_000)


@dataclass(frozen=True)
class EdgeTLS:
    """A TLS listener for a rendered nginx (the certificate and key files must exist)."""

    port: int
    certificate: Path
    key: Path


def render_nginx_conf(
    listen_port: int,
    gateway_ports: Sequence[int],
    *,
    auth_port: int | None = None,
    web_root: Path | None = None,
    source: Path = NGINX_CONF,
    limits: EdgeLimits | None = TEST_EDGE_LIMITS,
    tls: EdgeTLS | None = None,
) -> str:
    """``infra/nginx/nginx.conf`` for processes on 127.0.0.1 (TLS only when ``tls`` is given).

    The gateways become one upstream group (a gateway that fails a connect is skipped for
    2 s); ``/auth/`` goes to ``auth_port`` (502 when None); ``/`` serves ``web_root``
    (a built web app) when given, else proxies to nothing (502). ``limits`` replaces the
    per-address limits (None keeps the committed production values).
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
    listen = f"listen 127.0.0.1:{listen_port};"
    if tls is not None:
        listen += f"\nlisten 127.0.0.1:{tls.port} ssl;"
        files = (
            f"map $host $livews_tls_certificate {{ default {tls.certificate}; }}\n"
            f"map $host $livews_tls_certificate_key {{ default {tls.key}; }}"
        )
        conf = _replace_block(conf, "tls-files", files)
    conf = _replace_block(conf, "listen", listen)
    for name, body in (limits.blocks() if limits is not None else {}).items():
        conf = _replace_block(conf, name, body)
    if web_root is not None:
        body = f"location / {{\n    root {web_root};\n{_WEB_TYPES}"
        body += "    try_files $uri /index.html;\n}"
        conf = _replace_block(conf, "web", body)
    if os.geteuid() == 0:
        # A root master runs its workers as "nobody", who may not read a checkout under a
        # private directory (CI clones into one); these are local test instances only.
        conf = "user root;\n" + conf
    return conf


@dataclass(frozen=True)
class Nginx:
    """A running nginx with the repository's config."""

    process: ServiceProcess
    port: int
    conf_path: Path
    tls_port: int | None = None

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
    limits: EdgeLimits | None = TEST_EDGE_LIMITS,
    tls: EdgeTLS | None = None,
) -> Nginx:
    """Run the repository's nginx config in front of ``gateway_ports`` (see the module doc)."""
    port = port or free_port()
    prefix = tmp_path / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(
        render_nginx_conf(
            port, gateway_ports, auth_port=auth_port, web_root=web_root, limits=limits, tls=tls
        )
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
    return Nginx(proc, port, conf_path, tls.port if tls is not None else None)


# -- a raw Socket.IO client for load and back-pressure tests ------------------------------


class RawSocketIOClient(asyncio.Protocol):
    """A minimal Engine.IO v4 / Socket.IO v5 client over a plain websocket (no extensions).

    Much lighter than python-socketio's client (no task per message, no JSON decoding
    unless asked), so one process can hold thousands — and it can *stop reading*
    (:meth:`pause`), which a real client library cannot be made to do. ``on_event`` gets
    the raw text of each Socket.IO EVENT (``b'2["ticks",[...]]'``) as it arrives.
    """

    def __init__(
        self,
        token: str | None,
        on_event: Callable[[RawSocketIOClient, bytes], None] | None = None,
        *,
        compression: bool = False,
    ) -> None:
        self.token = token
        self.on_event = on_event
        self.compression = compression
        self.wire_bytes = 0  # payload bytes as received (compressed, when negotiated)
        self._inflate: Any = None
        self.transport: asyncio.Transport | None = None
        self.frames = 0
        self.bytes = 0
        self.events: list[bytes] = []  # kept only when on_event is None
        self._buf = bytearray()
        self._handshaken = False
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    async def connect(
        self, host: str, port: int, wait: float = 10.0, *, local_host: str | None = None
    ) -> None:
        """Open the websocket, do the Engine.IO and Socket.IO handshakes (with the token).

        ``local_host`` picks the source address (e.g. 127.0.0.2: another client to nginx).
        """
        loop = asyncio.get_running_loop()
        local_addr = (local_host, 0) if local_host is not None else None
        await loop.create_connection(lambda: self, host, port, local_addr=local_addr)
        assert self.transport is not None
        key = base64.b64encode(uuid.uuid4().bytes).decode()
        self.transport.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                + (
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                    if self.compression
                    else ""
                )
                + "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(asyncio.shield(self.connected), wait)

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("connection lost during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._handshaken and not self._handshake(buf):
            return
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            start = 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < start + length:
                break
            compressed = buf[pos] & 0x40
            payload = bytes(buf[pos + start : pos + start + length])
            pos += start + length
            if opcode == 0x1:
                self._text(payload, bool(compressed))
            elif opcode == 0x8:
                self.close()
        del buf[:pos]

    def _handshake(self, buf: bytearray) -> bool:
        """Consume the HTTP 101 answer; False while it is incomplete (or refused)."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end])
        del buf[: end + 4]
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            self.connected.set_exception(ConnectionError(head[:200].decode(errors="replace")))
            self.close()
            return False
        if b"permessage-deflate" in head.lower():
            self._inflate = zlib.decompressobj(-15)
        self._handshaken = True
        return True

    def _text(self, payload: bytes, compressed: bool) -> None:
        self.frames += 1
        self.wire_bytes += len(payload)
        if compressed and self._inflate is not None:
            payload = self._inflate.decompress(payload + b"\x00\x00\xff\xff")
        self.bytes += len(payload)
        self._packet(payload)

    # Engine.IO / Socket.IO ----------------------------------------------------------------

    def _packet(self, payload: bytes) -> None:
        kind = payload[:1]
        if kind == b"2":  # Engine.IO ping
            self._send(b"3")
        elif kind == b"0":  # Engine.IO open: connect the default namespace with the token
            auth = {"token": self.token} if self.token is not None else {}
            self._send(b"40" + json.dumps(auth).encode())
        elif kind == b"4":
            self._message(payload[1:])

    def _message(self, packet: bytes) -> None:
        kind = packet[:1]
        if kind == b"2":
            if self.on_event is not None:
                self.on_event(self, packet)
            else:
                self.events.append(packet)
        elif kind == b"3":
            digits = 1
            while packet[digits : digits + 1].isdigit():
                digits += 1
            future = self._acks.pop(int(packet[1:digits]), None)
            if future is not None and not future.done():
                future.set_result(json.loads(packet[digits:])[0])
        elif kind == b"0" and not self.connected.done():
            self.connected.set_result(None)
        elif kind == b"4" and not self.connected.done():
            self.connected.set_exception(ConnectionRefusedError(packet[1:].decode()))
        elif kind == b"1":
            self.close()

    def _send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = uuid.uuid4().bytes[:4]
        n = len(data)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        keystream = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")
        self.transport.write(header + mask + masked)

    def emit(self, event: str, data: Any) -> None:
        self._send(b"42" + json.dumps([event, data]).encode())

    async def call(self, event: str, data: Any, wait: float = 30.0) -> Any:
        """Emit with an ack and return the ack's first argument."""
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[self._next_id] = future
        self._send(b"42" + str(self._next_id).encode() + json.dumps([event, data]).encode())
        return await asyncio.wait_for(future, wait)

    def pause(self) -> None:
        """Stop reading from the socket, like a client whose tab froze."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
