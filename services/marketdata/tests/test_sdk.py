"""The SDK adapter in this process, against the emulator: what upstream/sdk.py promises."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from livews_devtools.fleet_marketdata import emulator_access_token
from livews_devtools.pytest_plugin import Emulator
from livews_marketdata.upstream import sdk
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.sdk import DEPTH, QUOTES, FeedSocket, SdkConnection

SBIN, INFY, TCS = "NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ"


def _topics(emulator: Emulator) -> int:
    return int(httpx.get(f"{emulator.url}/admin/state", timeout=5).json()["subscribed_topics"])


def _sdk_threads() -> list[threading.Thread]:
    marks = ("fyers", "__process_message_queue", "_FyersDataSocket__ping", "run_forever")
    return [t for t in threading.enumerate() if t.is_alive() and any(m in t.name for m in marks)]


@pytest.fixture
async def configured(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Path]:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # anything the SDK writes to its working directory shows
    log_dir = tmp_path / "sdk-logs"
    mapping = httpx.get(f"{emulator.url}/sym_details/index_hsm_mapping.json").json()
    sdk.configure(token_url=f"{emulator.data_base}/symbol-token", index_map=mapping,
                  rest_timeout=5, connect_timeout=5, log_dir=log_dir)  # fmt: skip
    yield log_dir
    for _ in range(40):  # every SDK thread of the test is gone (or going) afterwards
        if not _sdk_threads():
            break
        await asyncio.sleep(0.05)
    assert not _sdk_threads()


async def _auth(bridge: Bridge) -> None:
    async with asyncio.timeout(10):
        while True:
            event = await bridge.control.get()
            if isinstance(event.payload, dict) and event.payload.get("code") == 200:
                return
            assert event.kind != "close", event


async def _symbols(bridge: Bridge, want: set[str], kind: str = "sf") -> set[str]:
    seen: set[str] = set()
    async with asyncio.timeout(10):
        while not want <= seen:
            for _, raw in await bridge.take():
                assert isinstance(raw, dict)
                if raw["type"] == kind:
                    seen.add(raw["symbol"])
    return seen


async def test_connection_lifecycle(emulator: Emulator, configured: Path, tmp_path: Path) -> None:
    bridge = Bridge(asyncio.get_running_loop())
    gen = bridge.new_generation()
    token = emulator_access_token(emulator)
    conn = SdkConnection(url=emulator.ws_url, access_token=token, bridge=bridge,
                         generation=gen, call_timeout=10)  # fmt: skip
    started = time.monotonic()
    await conn.open()
    await _auth(bridge)
    assert time.monotonic() - started < 1.5  # no 2 s sleep in connect()
    # Two subscribe calls, then unsubscribe a symbol from the *first* one: the SDK alone
    # would refuse that (it only knows its last call's topics).
    await conn.subscribe([SBIN, INFY], QUOTES)
    await conn.subscribe([TCS], QUOTES)
    await conn.subscribe([SBIN], DEPTH)
    await _symbols(bridge, {SBIN, INFY, TCS})
    await _symbols(bridge, {SBIN}, "dp")
    assert _topics(emulator) == 4
    await conn.unsubscribe([INFY], QUOTES)
    async with asyncio.timeout(5):
        while _topics(emulator) != 3:
            await asyncio.sleep(0.05)
    assert not list((tmp_path / "cwd").iterdir())  # nothing in the working directory
    started = time.monotonic()
    await conn.close()
    assert time.monotonic() - started < 1.5  # not the SDK's ~10 s close_connection()
    assert all(t.daemon for t in _sdk_threads())
    assert (configured / sdk.SDK_LOG_FILE).exists()


async def test_sockets_are_not_a_singleton(emulator: Emulator, configured: Path) -> None:
    from fyers_apiv3.FyersWebsocket.data_ws import FyersDataSocket

    def make() -> FeedSocket:
        return FeedSocket(access_token="APP-100:x.y.z", url=emulator.ws_url,
                          log_path=str(configured), on_message=print, on_error=print,
                          on_close=print)  # fmt: skip

    cached = FyersDataSocket._instance  # whatever another test left there
    a, b = make(), make()
    assert a is not b and FyersDataSocket._instance is cached
    assert isinstance(a, FyersDataSocket)
    assert a._FyersDataSocket__url == emulator.ws_url


async def test_an_expired_token_is_reported_not_swallowed(
    emulator: Emulator, configured: Path
) -> None:
    bridge = Bridge(asyncio.get_running_loop())
    gen = bridge.new_generation()
    conn = SdkConnection(url=emulator.ws_url, access_token=emulator_access_token(emulator),
                         bridge=bridge, generation=gen, call_timeout=10)  # fmt: skip
    try:
        await conn.open()
        await _auth(bridge)
        await conn.subscribe([SBIN], QUOTES)
        await _symbols(bridge, {SBIN})
        emulator.admin("expire-tokens")
        kinds = []
        async with asyncio.timeout(10):
            while "close" not in kinds:
                event = await bridge.control.get()
                kinds.append(event.kind)
                if event.kind == "error" and isinstance(event.payload, dict):
                    expired = {"type": "cn", "code": -99, "message": "Token is expired"}
                    assert event.payload == {**expired, "s": "error"}
        assert "error" in kinds
    finally:
        await conn.close()


async def test_sdk_logging_can_be_disabled(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    sdk.configure(token_url=f"{emulator.data_base}/symbol-token", index_map={}, log_dir=None)
    try:
        sock = FeedSocket(access_token="APP-100:x.y.z", url=emulator.ws_url,
                          log_path=sdk._SETUP.log_path, on_message=print, on_error=print,
                          on_close=print)  # fmt: skip
        sock.data_logger.error("goes nowhere")
        assert not list((tmp_path / "cwd").iterdir())
        assert not Path(sdk._SETUP.log_path).is_relative_to(tmp_path)
    finally:
        sdk.configure(token_url=f"{emulator.data_base}/symbol-token", index_map={},
                      log_dir=tmp_path / "logs")  # fmt: skip
