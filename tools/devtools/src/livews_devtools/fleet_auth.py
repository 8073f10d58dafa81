"""Start livews-auth for tests and sign in through it like a browser.

For tests (fixtures come from the root conftest.py)::

    def test_x(auth_service):                       # auth + the emulator + a private Redis
        client, token = login(auth_service.url)     # a signed-in browser and an access JWT

    def test_y(spawn, tmp_path, redis_url, emulator):
        auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_ACCESS_TTL="5")

    with signed_in(auth_service.url, "XA00001") as (client, token):
        token2 = refresh(client)                    # rotates the refresh cookie

``login`` walks the real flow: ``GET /auth/login`` → the emulator's ``generate-authcode``
with ``fy_id=`` (which skips its login page) → ``GET /auth/callback`` → ``POST /auth/token``.
The returned client keeps the ``livews_refresh`` cookie, so ``refresh(client)`` gets the next
token; close it when done (``signed_in`` / ``signed_in_async`` do that for you). Any step
that does not answer as a browser expects raises :class:`LoginFailed` with the response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from livews_common import redis_acl
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.pytest_plugin import Emulator, Spawn
from livews_devtools.redis_server import role_url

DEFAULT_FY_ID = "XY12345"
#: The PIN the auth processes started here renew the feed token with (the emulator's).
FEED_PIN = "1234"


@dataclass(frozen=True)
class AuthService:
    """A running livews-auth process."""

    process: ServiceProcess
    port: int
    env: Mapping[str, str]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the API is under ``/auth``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        """What a gateway's ``AUTH_JWKS_URL`` should be."""
        return f"{self.url}/auth/.well-known/jwks.json"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    @property
    def state_dir(self) -> Path:
        """Its LIVEWS_STATE_DIR. The dev token key lives there: start the ingestor with the
        same dir (or give both the same LIVEWS_TOKEN_KEY) so it can open the feed token."""
        return Path(self.env["LIVEWS_STATE_DIR"])


def auth_env(tmp_path: Path, redis_url: str, emulator: Emulator, **env: str) -> dict[str, str]:
    """The environment ``start_auth`` runs livews-auth with (``env`` overrides)."""
    return {
        **emulator.env(),
        # Its own least-privilege Redis user (livews_common.redis_acl) when redis_url is a
        # devtools RedisServer's admin URL.
        "REDIS_URL": role_url(redis_url, redis_acl.AUTH),
        "LIVEWS_ENV": "dev",
        "LIVEWS_STATE_DIR": str(tmp_path / "auth-state"),
        "AUTH_FEED_PIN": emulator.pin or FEED_PIN,
        # Tests sign in many times from 127.0.0.1; rate limits get their own tests.
        "AUTH_RATE_LOGIN": "0",
        "AUTH_RATE_TOKEN": "0",
        **env,
    }


def start_auth(
    spawn: Spawn,
    tmp_path: Path,
    redis_url: str,
    emulator: Emulator,
    *,
    name: str = "livews-auth",
    port: int | None = None,
    **env: str,
) -> AuthService:
    """Start livews-auth against ``emulator`` and ``redis_url``; wait until /healthz is 200.

    Keyword arguments are extra environment variables (``AUTH_ACCESS_TTL="5"``). The state
    dir (dev signing key and token key) is ``tmp_path/auth-state`` unless overridden, so a
    second process started with the same ``tmp_path`` shares keys with the first.
    """
    port = port or free_port()
    full_env = auth_env(tmp_path, redis_url, emulator, **env)
    proc = spawn(
        name,
        [script("livews-auth"), "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    return AuthService(proc, port, full_env)


@pytest.fixture
def auth_service(spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator) -> AuthService:
    """A livews-auth process on the test's Redis and a fresh emulator (dev settings).

    The ``emulator`` and ``redis_url`` fixtures of the same test are the ones it uses. In dev
    the first user to sign in becomes the feed account: its Fyers token is then published at
    ``auth:feed:token`` for the ingestor.
    """
    return start_auth(spawn, tmp_path, redis_url, emulator)


# -- signing in like a browser ------------------------------------------------------------


class LoginFailed(AssertionError):
    """A step of the sign-in flow did not answer as a browser expects."""


def _authorize_url(response: httpx.Response, fy_id: str) -> str:
    if response.status_code != 302:
        raise LoginFailed(f"/auth/login answered {response.status_code}: {response.text[:200]}")
    location = response.headers["location"]
    sep = "&" if "?" in location else "?"
    return f"{location}{sep}fy_id={fy_id}"


def _callback_url(response: httpx.Response) -> str:
    if response.status_code != 302:
        raise LoginFailed(f"generate-authcode answered {response.status_code}: {response.text}")
    return response.headers["location"]


def _token(response: httpx.Response) -> str:
    if response.status_code != 200:
        raise LoginFailed(f"/auth/token answered {response.status_code}: {response.text[:200]}")
    token: str = response.json()["access_token"]
    return token


def login(
    auth_url: str, fy_id: str = DEFAULT_FY_ID, *, next_path: str = "/", **client_kw: Any
) -> tuple[httpx.Client, str]:
    """Sign in as ``fy_id``: a client holding the refresh cookie, and an access JWT."""
    client = httpx.Client(base_url=auth_url, timeout=10.0, **client_kw)
    try:
        started = client.get("/auth/login", params={"next": next_path})
        authorized = client.get(_authorize_url(started, fy_id))
        back = client.get(_callback_url(authorized))
        if back.status_code != 302:
            raise LoginFailed(f"/auth/callback answered {back.status_code}: {back.text[:200]}")
        return client, _token(client.post("/auth/token"))
    except BaseException:
        client.close()
        raise


@contextmanager
def signed_in(
    auth_url: str, fy_id: str = DEFAULT_FY_ID, **client_kw: Any
) -> Iterator[tuple[httpx.Client, str]]:
    """:func:`login` as a context manager that closes the client."""
    client, token = login(auth_url, fy_id, **client_kw)
    try:
        yield client, token
    finally:
        client.close()


def refresh(client: httpx.Client) -> str:
    """The next access token for a client returned by :func:`login` (rotates its cookie)."""
    return _token(client.post("/auth/token"))


async def login_async(
    auth_url: str, fy_id: str = DEFAULT_FY_ID, *, next_path: str = "/", **client_kw: Any
) -> tuple[httpx.AsyncClient, str]:
    """:func:`login` for asyncio tests: an ``httpx.AsyncClient`` (close it) and a JWT."""
    client = httpx.AsyncClient(base_url=auth_url, timeout=10.0, **client_kw)
    try:
        started = await client.get("/auth/login", params={"next": next_path})
        authorized = await client.get(_authorize_url(started, fy_id))
        back = await client.get(_callback_url(authorized))
        if back.status_code != 302:
            raise LoginFailed(f"/auth/callback answered {back.status_code}: {back.text[:200]}")
        return client, _token(await client.post("/auth/token"))
    except BaseException:
        await client.aclose()
        raise


@asynccontextmanager
async def signed_in_async(
    auth_url: str, fy_id: str = DEFAULT_FY_ID, **client_kw: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """:func:`login_async` as an async context manager that closes the client."""
    client, token = await login_async(auth_url, fy_id, **client_kw)
    try:
        yield client, token
    finally:
        await client.aclose()


async def refresh_async(client: httpx.AsyncClient) -> str:
    """:func:`refresh` for a client returned by :func:`login_async`."""
    return _token(await client.post("/auth/token"))
