"""Helpers shared by the auth tests: polling with a deadline, cookies, forged tokens."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization

from livews_common.claims import AUDIENCE, ISSUER
from livews_devtools.processes import script

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.02)


async def wait_for_async(
    check: Callable[[], Awaitable[T | None]], timeout: float = 10.0, what: str = ""
) -> T:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.02)


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """Set-Cookie headers of ``response`` by cookie name (morsels with their attributes)."""
    jar: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel
    return jar


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    doc: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "XY12345", "sid": "forged-sid",
        "scope": "md:read", "iat": now, "exp": now + 300, "jti": "j-forged",
    }  # fmt: skip
    doc.update(over)
    return doc


def dev_signing_key(state_dir: Path) -> Any:
    """The private key a dev auth process generated in its state dir."""
    return serialization.load_pem_private_key(
        (state_dir / "auth-signing-key.pem").read_bytes(), password=None
    )


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(body))),
    )


def generate_key(path: Path) -> Path:
    out = subprocess.run(
        [script("livews-auth"), "--generate-key"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("-----BEGIN PRIVATE KEY-----")
    path.write_text(out.stdout)
    return path


def prod_env(tmp_path: Path) -> dict[str, str]:
    return {
        "LIVEWS_ENV": "prod",
        "LIVEWS_STATE_DIR": str(tmp_path / "state"),
        "FYERS_CLIENT_ID": "DEVAPP0001-100",
        "FYERS_SECRET_KEY": "devsecret",
        "FYERS_REDIRECT_URI": "https://md.example.test/auth/callback",
        "AUTH_SIGNING_KEY_FILE": str(generate_key(tmp_path / "signing.pem")),
        "LIVEWS_TOKEN_KEY": Fernet.generate_key().decode(),
    }
