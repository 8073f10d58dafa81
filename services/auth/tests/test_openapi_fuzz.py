"""Schemathesis against the live service's OpenAPI: no input makes it answer 5xx."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from livews_devtools.fleet_auth import AuthService, signed_in
from livews_devtools.processes import script


def run_schemathesis(url: str, cwd: Path, *headers: str) -> None:
    argv = [
        script("schemathesis"), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25", "--seed", "42", "--workers", "1",
        "--max-redirects", "0", "--request-timeout", "5",
        "--generation-database", "none", "--no-color",
    ]  # fmt: skip
    for header in headers:
        argv += ["-H", header]
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert summary and summary.group(1) == summary.group(2), out.stdout[-2000:]


def test_schemathesis_finds_no_server_error(auth_service: AuthService, tmp_path: Path) -> None:
    run_schemathesis(auth_service.url, tmp_path)


def test_schemathesis_signed_in_finds_no_server_error(
    auth_service: AuthService, tmp_path: Path
) -> None:
    # With a real access token and refresh cookie, the signed-in paths are exercised too
    # (the cookie rotates on first use; later uses are reuse, which revokes: also no 5xx).
    with signed_in(auth_service.url) as (client, token):
        refresh_cookie = client.cookies["livews_refresh"]
        run_schemathesis(
            auth_service.url, tmp_path,
            f"Authorization: Bearer {token}", f"Cookie: livews_refresh={refresh_cookie}",
        )  # fmt: skip
