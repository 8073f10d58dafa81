"""Fixtures: a real ``fyers-emulator`` subprocess and real SDK driver processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emulator_harness import (
    CLIENT_ID,
    DRIVER,
    Emu,
    SdkClient,
    start_emulator,
    stop_emulator,
)


@pytest.fixture(scope="session")
def emu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    emu = start_emulator(tmp_path_factory.mktemp("emulator"))
    try:
        yield emu
    finally:
        stop_emulator(emu)


@pytest.fixture
def emu(emu_server: Emu) -> Iterator[Emu]:
    """The shared emulator with every fault cleared before and after the test."""
    emu_server.admin("reset")
    yield emu_server
    emu_server.admin("reset")


@pytest.fixture
def emu_factory(tmp_path: Path) -> Iterator[Callable[..., Emu]]:
    """Start a private emulator with extra environment; stopped at the end of the test."""
    started: list[Emu] = []

    def start(**env: str) -> Emu:
        emu = start_emulator(tmp_path, **env)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        stop_emulator(emu)


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[Callable[..., SdkClient]]:
    """Start the real SDK socket in a subprocess: ``sdk(emu, token, lite=False, ...)``."""
    clients: list[SdkClient] = []

    def start(
        emu: Emu, access_token: str, *, lite: bool = False, reconnect: bool = False,
        wait_ready: bool = True,
    ) -> SdkClient:  # fmt: skip
        log_dir = tmp_path / f"sdk-{len(clients)}"
        log_dir.mkdir()
        argv = [sys.executable, str(DRIVER), "--base", emu.url, "--token",
                f"{CLIENT_ID}:{access_token}", "--log-dir", str(log_dir)]  # fmt: skip
        if lite:
            argv.append("--lite")
        if reconnect:
            argv.append("--reconnect")
        with (log_dir / "stderr.log").open("w") as err:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                cwd=log_dir,
            )  # fmt: skip
        client = SdkClient(proc)
        clients.append(client)
        client.start_reader()
        if wait_ready:
            client.wait_for(lambda e: e["ev"] == "ready", timeout=20)
        return client

    yield start
    for client in clients:
        client.stop()
