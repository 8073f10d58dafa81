"""The Fyers client: answers sorted into result / refused / unavailable; retries only the last."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from livews_auth.upstream.fyers import (
    FyersClient,
    FyersRefused,
    FyersUnavailable,
    app_id_hash,
    token_expiry,
)
from livews_devtools.pytest_plugin import Emulator


class Upstream:
    """A real HTTP server answering every request with ``status`` and ``body``; counts hits."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body, self.hits = status, body, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.hits += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def client_for(http: httpx.AsyncClient, base: str, **kw: object) -> FyersClient:
    return FyersClient(
        http, api_base=base, client_id="DEVAPP0001-100", secret_key="devsecret",
        backoff=0.01, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_5xx_is_retried_then_unavailable(http: httpx.AsyncClient) -> None:
    seen: list[tuple[str, str]] = []
    with Upstream(503, b'{"s": "error"}') as up:
        fyers = client_for(http, up.url, retries=2, observe=lambda c, o, _s: seen.append((c, o)))
        with pytest.raises(FyersUnavailable):
            await fyers.exchange_code("code")
        assert up.hits == 3
    assert seen == [("validate_authcode", "unavailable")] * 3


async def test_a_refusal_is_not_retried(http: httpx.AsyncClient) -> None:
    body = b'{"s": "error", "code": -371, "message": "Invalid auth code"}'
    with Upstream(400, body) as up:
        with pytest.raises(FyersRefused) as refused:
            await client_for(http, up.url, retries=2).exchange_code("code")
        assert up.hits == 1
    assert refused.value.code == -371


async def test_garbage_and_unreachable_are_unavailable(http: httpx.AsyncClient) -> None:
    with Upstream(200, b"<html>maintenance</html>") as up:
        with pytest.raises(FyersUnavailable):
            await client_for(http, up.url, retries=0).profile("t")
    with Upstream(200, b'{"s": "ok"}') as up:
        with pytest.raises(FyersUnavailable, match="lacks"):
            await client_for(http, up.url, retries=0).exchange_code("c")
    with pytest.raises(FyersUnavailable):
        await client_for(http, "http://127.0.0.1:9/api/v3", retries=1).profile("t")


async def test_against_the_emulator(http: httpx.AsyncClient, emulator: Emulator) -> None:
    fyers = client_for(http, emulator.api_base)
    with pytest.raises(FyersRefused) as bad_code:
        await fyers.exchange_code("not-a-code")
    assert bad_code.value.code == -371
    with pytest.raises(FyersRefused) as bad_token:
        await fyers.profile("not-a-token")
    assert bad_token.value.token_dead
    authorize = fyers.authorize_url("http://127.0.0.1:1/auth/callback", "st")
    at_fyers = await http.get(authorize + "&fy_id=XY12345")
    code = httpx.URL(at_fyers.headers["location"]).params["auth_code"]
    tokens = await fyers.exchange_code(code)
    assert (await fyers.profile(tokens.access_token)).fy_id == "XY12345"
    assert token_expiry(tokens.access_token) is not None
    with pytest.raises(FyersRefused) as wrong_pin:
        await fyers.refresh_access_token(tokens.refresh_token, "0000")
    assert wrong_pin.value.code == -380
    assert await fyers.refresh_access_token(tokens.refresh_token, emulator.pin)


def test_app_id_hash_is_sha256_of_id_and_secret() -> None:
    expected = hashlib.sha256(b"DEVAPP0001-100:devsecret").hexdigest()
    assert app_id_hash("DEVAPP0001-100", "devsecret") == expected
