"""The edge as an attacker meets it: the repository's nginx with its *production* limits.

The shared fleet's own nginx runs with the limits raised (every test client is 127.0.0.1);
here a second nginx, rendered from infra/nginx/nginx.conf with the committed values and a TLS
listener, stands in front of the same gateways and auth. Each attacker is its own loopback
address (127.0.0.2, 127.0.0.3, …), so "another client" is another address, as in production.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from livews_devtools.fleet import Fleet
from livews_devtools.fleet_gateway import (
    EdgeTLS,
    Nginx,
    RawSocketIOClient,
    start_nginx,
)
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NGINX_CONF = Path(__file__).resolve().parents[2] / "infra" / "nginx" / "nginx.conf"
JWKS = "/auth/.well-known/jwks.json"


def committed(directive: str) -> int:
    """A number from the committed nginx.conf, e.g. ``committed("limit_conn livews_ws_conn")``."""
    match = re.search(rf"^\s*{re.escape(directive)}\s*(\d+)", NGINX_CONF.read_text(), re.M)
    assert match, directive
    return int(match.group(1))


@dataclass(frozen=True)
class Edge:
    fleet: Fleet
    nginx: Nginx
    error_log: Path

    def url(self, tls: bool = False) -> str:
        if tls:
            return f"https://127.0.0.1:{self.nginx.tls_port}"
        return self.nginx.url


@pytest.fixture(scope="module")
def edge(shared_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    workdir = tmp_path_factory.mktemp("edge")
    web = workdir / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>LiveWebsocket</title><div id=root>")
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    started: list[ServiceProcess] = []

    def spawn(
        name: str, argv: list[str], *, health_url: str | None = None, **_: object
    ) -> ServiceProcess:
        proc = ServiceProcess(
            name, argv, health_url=health_url, log_path=workdir / f"{name}.log", cwd=workdir
        )
        started.append(proc)
        proc.start()
        proc.wait_healthy(30)
        return proc

    nginx = start_nginx(
        spawn, workdir, [g.port for g in shared_fleet.gateways],
        auth_port=shared_fleet.auth.port, web_root=web, name="edge-nginx",
        limits=None,  # the committed production values
        tls=EdgeTLS(free_port(), cert, key),
    )  # fmt: skip
    try:
        yield Edge(shared_fleet, nginx, workdir / "edge-nginx.log")
    finally:
        for proc in reversed(started):
            proc.stop()


def client(source: str, base_url: str = "", verify: bool = True) -> httpx.Client:
    """An HTTP client whose connections come from ``source`` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=source, verify=verify)
    return httpx.Client(transport=transport, base_url=base_url, timeout=10.0)


def test_one_address_over_the_auth_rate_gets_429_while_another_is_served(edge: Edge) -> None:
    rate = committed("limit_req_zone $binary_remote_addr zone=livews_auth_req:10m rate=")
    burst = committed("limit_req zone=livews_auth_req burst=")
    attempts = 3 * (burst + rate)
    statuses: Counter[int] = Counter()
    with client("127.0.0.2", base_url=edge.url()) as attacker:
        began = time.monotonic()
        for _ in range(attempts):
            statuses[attacker.get(JWKS).status_code] += 1
        elapsed = time.monotonic() - began
    with client("127.0.0.3", base_url=edge.url()) as bystander:
        other = Counter(bystander.get(JWKS).status_code for _ in range(5))
    allowed = burst + 1 + rate * elapsed
    print(
        f"\nBOUND /auth rate {rate}r/s burst {burst}: one address sent {attempts} in "
        f"{elapsed:.2f}s -> {statuses[200]} served, {statuses[429]} refused (429) "
        f"[bound {allowed:.0f} served]; another address: {dict(other)}"
    )
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] <= allowed + 2, statuses  # +2: a token may drip in between reads
    assert statuses[429] >= attempts - allowed - 2 and statuses[429] > 0, statuses
    assert other == Counter({200: 5}), other
    assert "limiting requests" in edge.error_log.read_text()


async def _open(edge: Edge, token: str, source: str) -> tuple[RawSocketIOClient | None, str]:
    rc = RawSocketIOClient(token)
    try:
        await rc.connect("127.0.0.1", edge.nginx.port, wait=15.0, local_host=source)
    except ConnectionError as exc:
        rc.close()
        return None, str(exc).split("\r\n", 1)[0]
    return rc, "101"


@pytest.mark.timeout(240)
async def test_one_address_over_the_socket_limit_is_refused_while_another_connects(
    edge: Edge,
) -> None:
    limit = committed("limit_conn livews_ws_conn")
    burst = committed("limit_req zone=livews_ws_req burst=")
    rate = committed("limit_req_zone $binary_remote_addr zone=livews_ws_req:10m rate=")
    # Several users, a few sockets each (any per-user quota of the gateways stays out of it).
    users = 30
    tokens = [await edge.fleet.login_async(f"XE{i:05d}") for i in range(users)]
    attempts = limit + 20
    held: list[RawSocketIOClient] = []
    outcomes: Counter[str] = Counter()
    try:
        # Batches under the handshake burst, with pauses that let the rate bucket drain, so
        # only the connection limit can refuse.
        batch = max(1, burst - 10)
        opened = 0
        while opened < attempts:
            n = min(batch, attempts - opened)
            results = await asyncio.gather(
                *(_open(edge, tokens[(opened + i) % users], "127.0.0.4") for i in range(n))
            )
            for rc, status in results:
                outcomes[status] += 1
                if rc is not None:
                    held.append(rc)
            opened += n
            await asyncio.sleep(batch / rate + 1.0)
        bystander, status = await _open(edge, tokens[0], "127.0.0.5")
        assert bystander is not None, f"another address was refused: {status}"
        held.append(bystander)
        alive = sum(1 for rc in held if not rc.closed.done())
    finally:
        for rc in held:
            rc.close()
    refused = sum(n for s, n in outcomes.items() if "429" in s)
    print(
        f"\nBOUND /socket.io limit_conn {limit} per address: one address tried {attempts} "
        f"-> {outcomes['101']} open, {refused} refused (429) {dict(outcomes)}; "
        f"another address connected; {alive} sockets alive at the end"
    )
    assert outcomes["101"] <= limit, outcomes
    assert outcomes["101"] >= limit - 5, outcomes  # the bound is what refused, not the rest
    assert refused >= attempts - limit, outcomes
    assert 'limiting connections by zone "livews_ws_conn"' in edge.error_log.read_text()


HEADERS = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def test_security_headers_on_the_dashboard_and_auth(edge: Edge) -> None:
    seen = {}
    with client("127.0.0.6", verify=False) as http:
        for tls in (True, False):
            for path in ("/", JWKS, "/auth/no-such-page"):
                response = http.get(edge.url(tls) + path)
                seen[(tls, path)] = response.status_code
                for name, part in HEADERS.items():
                    assert part in response.headers.get(name, ""), (tls, path, name)
                hsts = response.headers.get("strict-transport-security", "")
                if tls:
                    assert "max-age=31536000" in hsts, (path, hsts)
                else:  # HSTS over plain HTTP means nothing and is not sent
                    assert not hsts, path
        csp = http.get(edge.url(True) + "/").headers["content-security-policy"]
    print(f"\nHEADERS statuses {seen}; CSP: {csp}")
    assert seen[(True, "/")] == 200 and seen[(True, JWKS)] == 200
    assert "script-src 'self'" in csp and "'unsafe-eval'" not in csp


def test_oversized_body_and_headers_are_refused(edge: Edge) -> None:
    limit_kib = committed("client_max_body_size")
    with client("127.0.0.7", base_url=edge.url()) as http:
        body = http.post("/auth/token", content=b"x" * ((limit_kib + 1) * 1024))
        header = http.get("/", headers={"X-Junk": "y" * 16 * 1024})
        cookie = http.get(JWKS, headers={"Cookie": "a=" + "z" * 9 * 1024})
        line = http.get("/auth/" + "q" * 9 * 1024)
        fine = http.post("/auth/token", content=b"{}")
    print(
        f"\nBOUND body {limit_kib + 1} KiB -> {body.status_code}; 16 KiB header -> "
        f"{header.status_code}; 9 KiB cookie -> {cookie.status_code}; 9 KiB URL -> "
        f"{line.status_code}; a small body -> {fine.status_code} (auth's own answer)"
    )
    assert body.status_code == 413
    assert header.status_code in (400, 431, 494)
    assert cookie.status_code in (400, 431, 494)
    assert line.status_code == 414
    assert fine.status_code != 413


def test_a_slowloris_client_is_dropped(edge: Edge) -> None:
    timeout = committed("client_header_timeout")
    with socket.create_connection(
        ("127.0.0.1", edge.nginx.port), timeout=timeout + 10, source_address=("127.0.0.8", 0)
    ) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        began = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        waited = time.monotonic() - began
    print(f"\nBOUND client_header_timeout {timeout}s: a trickling client was dropped after "
          f"{waited:.1f}s")  # fmt: skip
    assert timeout - 1 <= waited <= timeout + 8
