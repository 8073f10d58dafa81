"""Without Redis, auth stays up, says why in /readyz, and answers 503 — never a 500."""

from __future__ import annotations

from pathlib import Path

import httpx

from livews_devtools.fleet_auth import start_auth
from livews_devtools.ports import free_port
from livews_devtools.pytest_plugin import Emulator, Spawn


def test_redis_unreachable_is_503_with_a_reason(
    spawn: Spawn, tmp_path: Path, emulator: Emulator
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    auth = start_auth(spawn, tmp_path, dead, emulator)
    with httpx.Client(base_url=auth.url, timeout=15) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready" and "redis" in ready.json()["reason"]
        assert ready.json()["checks"] == {"redis": "down"}
        for response in (
            client.get("/auth/login"),
            client.get("/auth/callback", params={"state": "x" * 43, "auth_code": "c"}),
            client.post(
                "/auth/token", headers={"Cookie": "livews_refresh=" + "a" * 22 + "." + "b" * 43}
            ),
            client.post(
                "/auth/logout", headers={"Cookie": "livews_refresh=" + "a" * 22 + "." + "b" * 43}
            ),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "unavailable"
            assert "retry-after" in response.headers and "set-cookie" not in response.headers
        assert client.get("/auth/.well-known/jwks.json").status_code == 200
        assert client.get("/auth/me", headers={"Authorization": "Bearer x"}).status_code == 401
    assert auth.process.alive
