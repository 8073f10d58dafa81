"""The repository's load-balancer config (infra/nginx, owned with the gateway) passes
`nginx -t`, and docker-compose runs that same config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livews_devtools.fleet_gateway import TEST_EDGE_LIMITS, EdgeTLS, render_nginx_conf


def test_load_balancer_config_passes_nginx_t(infra: Any, tmp_path: Path) -> None:
    conf = infra.root / "infra" / "nginx" / "nginx.conf"
    if not conf.is_file():
        pytest.skip("infra/nginx/nginx.conf is not in the tree yet (gateway issue)")
    nginx = infra.tool("nginx", "nginx")
    # -p: logs, pid and temp files under a scratch prefix, never the system's.
    (tmp_path / "logs").mkdir()
    infra.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(conf)])


def test_compose_runs_the_repository_config(infra: Any) -> None:
    compose = infra.load_yaml(infra.root / "docker-compose.yml")
    nginx = compose["services"]["nginx"]
    assert "./infra/nginx:/etc/nginx/livews:ro" in nginx["volumes"]
    assert nginx["command"][:3] == ["nginx", "-c", "/etc/nginx/livews/nginx.conf"]


def _location(conf: str, path: str) -> str:
    start = conf.index(f"location {path} {{")
    return conf[start : conf.index("\n        }\n", start)]


def test_edge_limits_and_security_headers_are_in_the_config(infra: Any) -> None:
    conf = (infra.root / "infra" / "nginx" / "nginx.conf").read_text()
    # Per-address limits, separate zones for the websocket and the auth paths, 429 over them.
    for path, zone in (("/socket.io/", "livews_ws"), ("/auth/", "livews_auth")):
        block = _location(conf, path)
        assert re.search(rf"limit_conn {zone}_conn \d+;", block), path
        assert re.search(rf"limit_req zone={zone}_req burst=\d+ nodelay;", block), path
        assert f"limit_conn_zone $binary_remote_addr zone={zone}_conn:" in conf
        assert f"limit_req_zone $binary_remote_addr zone={zone}_req:" in conf
        # The services see the address the limits count, not one the client claimed.
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block
    assert "limit_conn_status 429;" in conf and "limit_req_status 429;" in conf
    # Headers on every answer (`always`), at server level so every location inherits them.
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                   "Referrer-Policy", "Strict-Transport-Security"):  # fmt: skip
        assert re.search(rf"^        add_header {header} .+ always;$", conf, re.M), header
    # No location sets its own add_header (it would drop the inherited ones).
    assert len(re.findall(r"^\s*add_header ", conf, re.M)) == 5
    csp = re.search(r'add_header Content-Security-Policy "([^"]+)"', conf)
    assert csp and "frame-ancestors 'none'" in csp.group(1)
    assert "script-src 'self';" in csp.group(1) and "unsafe-eval" not in csp.group(1)
    for directive in ("client_max_body_size", "client_header_buffer_size",
                      "large_client_header_buffers", "client_header_timeout",
                      "client_body_timeout"):  # fmt: skip
        assert re.search(rf"^    {directive} \S", conf, re.M), directive


def test_rendered_test_and_production_configs_pass_nginx_t(infra: Any, tmp_path: Path) -> None:
    nginx = infra.tool("nginx", "nginx")
    (tmp_path / "logs").mkdir()
    raised = render_nginx_conf(18080, [1001], auth_port=1002)
    assert f"limit_conn livews_ws_conn {TEST_EDGE_LIMITS.ws_connections};" in raised
    production = render_nginx_conf(
        18080, [1001], auth_port=1002, limits=None,
        tls=EdgeTLS(18443, tmp_path / "c.pem", tmp_path / "k.pem"),
    )  # fmt: skip
    committed = (infra.root / "infra" / "nginx" / "nginx.conf").read_text()
    for line in re.findall(r"^\s*(limit_(?:conn|req)[^\n]*;)$", committed, re.M):
        assert line in production, line
    assert "listen 127.0.0.1:18443 ssl;" in production
    for name, conf in (("raised", raised), ("production", production)):
        path = tmp_path / f"{name}.conf"
        path.write_text(conf)
        infra.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(path)])
