"""Pytest fixtures and helpers that start livews-marketdata (the ingestor) for tests.

- :func:`emulator_access_token` signs in to a running emulator the way the SDK's
  ``SessionModel`` would and returns ``"CLIENT_ID:ACCESS_TOKEN"`` (what ``FYERS_ACCESS_TOKEN``
  holds).
- :func:`seal_feed_token` plays the auth service: it writes a sealed FeedToken to
  ``auth:feed:token`` and announces it, as auth does after a sign-in or a renewal.
- :func:`start_marketdata` starts one ``livews-marketdata`` process against a Redis and an
  emulator (or a replay file) and waits until it answers ``/healthz``; the ``marketdata``
  fixture is the common case (one ingestor with an emulator token).

Nothing here imports ``livews_marketdata`` (the SDK's import is slow); it is all HTTP, Redis
and environment variables.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from livews_common import names, redis_acl, redisconn
from livews_common.feedtoken import FeedToken, load_token_cipher
from livews_devtools.ports import free_port
from livews_devtools.processes import ServiceProcess, script
from livews_devtools.pytest_plugin import Emulator, Spawn
from livews_devtools.redis_server import role_url

#: The Fyers user the helpers sign in as.
FEED_ACCOUNT = "XY12345"
#: ``access_token`` value of :func:`start_marketdata` meaning "sign in to the emulator".
FROM_EMULATOR = "emulator"


@dataclass(frozen=True)
class Marketdata:
    """A running ingestor process."""

    process: ServiceProcess
    port: int
    instance: str
    state_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5.0)

    def metrics(self) -> str:
        return self.get("/metrics").text

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in ``/metrics`` (0.0 when absent)."""
        return metric_value(self.metrics(), name, **labels)

    def wait_ready(self, timeout: float = 20.0) -> dict[str, Any]:
        """Poll ``/readyz`` until 200; return its body (raise with the log tail otherwise)."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = self.get("/readyz")
                body = response.json()
                if response.status_code == 200:
                    return body
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"{self.instance} not ready in {timeout}s: {body}\n{self.process.log_tail()}"
        )


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name{labels}`` in Prometheus text (0.0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        sample, _, rest = key.partition("{")
        if sample != name:
            continue
        got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
        if got == want:
            return float(value)
    return 0.0


def emulator_access_token(emulator: Emulator, fy_id: str = FEED_ACCOUNT) -> str:
    """Sign in to ``emulator`` (authcode + validate-authcode); return ``CLIENT_ID:TOKEN``."""
    with httpx.Client(base_url=emulator.api_base, timeout=5.0) as client:
        response = client.get(
            "/generate-authcode",
            params={
                "client_id": emulator.client_id,
                "redirect_uri": "http://127.0.0.1/callback",
                "response_type": "code",
                "state": "tests",
                "fy_id": fy_id,
            },
        )
        assert response.status_code in (302, 303, 307), response.text
        auth_code = parse_qs(urlsplit(response.headers["location"]).query)["auth_code"][0]
        app_id_hash = hashlib.sha256(
            f"{emulator.client_id}:{emulator.secret_key}".encode()
        ).hexdigest()
        response = client.post(
            "/validate-authcode",
            json={"grant_type": "authorization_code", "appIdHash": app_id_hash, "code": auth_code},
        )
        response.raise_for_status()
        token = response.json()["access_token"]
    return f"{emulator.client_id}:{token}"


def seal_feed_token(
    redis_url: str,
    state_dir: Path,
    access_token: str,
    *,
    account: str = FEED_ACCOUNT,
    expires_at: int | None = None,
    notify: bool = True,
    refresh_expires_at: int = 0,
) -> None:
    """Do what auth does with a fresh feed token: seal it, store it, announce it."""
    cipher = load_token_cipher("dev", state_dir)
    feed = FeedToken(
        access_token=access_token,
        account=account,
        expires_at=expires_at if expires_at is not None else int(time.time()) + 86_400,
        issued_at=int(time.time() * 1000),
        refresh_expires_at=refresh_expires_at,
    )
    client = redisconn.connect_sync(redis_url)
    try:
        client.set(names.FEED_TOKEN, cipher.seal(feed))
        if notify:
            client.publish(names.FEED_TOKEN_CHANGED, b"changed")
    finally:
        client.close()


def start_marketdata(
    spawn: Spawn,
    tmp_path: Path,
    redis_url: str,
    emulator: Emulator | None,
    *,
    name: str = "marketdata",
    access_token: str | None = FROM_EMULATOR,
    state_dir: Path | None = None,
    **env: str,
) -> Marketdata:
    """Start ``livews-marketdata`` and wait for ``/healthz``.

    ``access_token``: ``"emulator"`` signs in to the emulator and passes the result as
    ``FYERS_ACCESS_TOKEN``; a string is passed as is; ``None`` leaves it unset so the ingestor
    reads the auth-kept token from Redis (see :func:`seal_feed_token`, same ``state_dir``).
    Extra keyword arguments become environment variables (``MARKETDATA_STALL_SECONDS="2"``).
    """
    port = free_port()
    state = state_dir or tmp_path / "state"
    full_env: dict[str, str] = {
        # Its own least-privilege Redis user when redis_url is a devtools admin URL.
        "REDIS_URL": role_url(redis_url, redis_acl.MARKETDATA),
        "LIVEWS_STATE_DIR": str(state),
        "LIVEWS_ENV": "dev",
        "MARKETDATA_INSTANCE_ID": name,
        "FYERS_ACCESS_TOKEN": "",
        # Tests behave the same at any hour: always open (the stall watchdog always armed)
        # unless a test asks for the calendar (MARKETDATA_MARKET_CALENDAR=nse).
        "MARKETDATA_MARKET_CALENDAR": "off",
    }
    if emulator is not None:
        full_env |= emulator.env()
        if access_token == FROM_EMULATOR:
            access_token = emulator_access_token(emulator)
    if access_token and access_token != FROM_EMULATOR:
        full_env["FYERS_ACCESS_TOKEN"] = access_token
    full_env |= env
    proc = spawn(
        name,
        [script("livews-marketdata"), "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    return Marketdata(proc, port, name, state)


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def marketdata(spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator) -> Marketdata:
    """One ingestor on the test's Redis and emulator, with an emulator token."""
    return start_marketdata(spawn, tmp_path, redis_url, emulator)
