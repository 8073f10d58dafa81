"""The repository's load-balancer config (infra/nginx, owned with the gateway) passes
`nginx -t`, and docker-compose runs that same config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


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
