"""Auth's ops surface: every request counted and timed by route template and status (never by
the path a client sent), and ``livews_build_info`` says which build answers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from livews_devtools.fleet_auth import start_auth
from livews_devtools.fleet_marketdata import metric_value
from livews_devtools.pytest_plugin import Emulator, Spawn

REQUESTS = "livews_auth_http_requests_total"
DURATION = "livews_auth_http_request_duration_seconds_count"


def test_requests_are_counted_by_route_template_and_status(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator)
    with httpx.Client(base_url=auth.url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/auth/.well-known/jwks.json").status_code == 200
        assert client.get("/auth/me", headers={"Authorization": "Bearer x"}).status_code == 401
        # Paths nobody routes — one carrying something like a user id — share one label.
        for probe in ("/auth/users/XA00001", "/wp-login.php", "/auth/me/../../etc"):
            assert client.get(probe).status_code == 404
        text = client.get("/metrics").text
    jwks = {"method": "GET", "route": "/auth/.well-known/jwks.json", "status": "200"}
    assert metric_value(text, REQUESTS, **jwks) == 3
    assert metric_value(text, DURATION, **jwks) == 3
    me = {"method": "GET", "route": "/auth/me", "status": "401"}
    assert metric_value(text, REQUESTS, **me) == 1
    assert metric_value(text, REQUESTS, method="GET", route="unmatched", status="404") == 3
    routes = set(re.findall(rf'^{REQUESTS}{{[^}}]*route="([^"]*)"', text, re.M))
    print(f"\nROUTE LABELS {sorted(routes)}")
    assert not any("XA00001" in r or "wp-login" in r or ".." in r for r in routes)
    build = re.search(r"^livews_build_info\{([^}]*)\} 1\.0$", text, re.M)
    assert build is not None, "no livews_build_info sample"
    assert 'service="auth"' in build.group(1) and 'python="3.' in build.group(1)
