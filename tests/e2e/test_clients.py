"""The docs/clients.md examples, run as written against a fleet behind nginx.

docs/examples/python_client.py (python-socketio) and docs/examples/node_client.mjs
(socket.io-client), with their libraries' default reconnection options: they get a service
token from POST /auth/oauth/token, receive snapshot and ticks, reconnect by themselves after
a drain (SIGTERM of their gateway: bye server_shutdown, reconnect: true) and stay away after
a logout (bye session_revoked, reconnect: false).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import socketio

from livews_auth.clients import hash_secret
from livews_common import redisconn
from livews_devtools.fleet import Fleet, poll, running_fleet
from livews_devtools.fleet_auth import login_async
from livews_devtools.recorder import close_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
NODE_MODULES = ROOT / "services" / "gateway" / "tests" / "node" / "node_modules"
CLIENT_ID, SECRET = "reporting", "example-secret-" + "q" * 24
SYMBOLS = ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ"]


@pytest.fixture(scope="module")
def clients_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("clients-fleet")
    clients = workdir / "clients.json"
    entry = {"secrets": [hash_secret(SECRET)], "scopes": ["md:read"]}
    clients.write_text(json.dumps({"clients": {CLIENT_ID: entry}}))
    fleet = Fleet(workdir / "fleet", auth_env={"AUTH_CLIENTS_FILE": str(clients)})
    yield from running_fleet(fleet)


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Node example, as written, beside the socket.io-client that `make node-deps` installs."""
    if shutil.which("node") is None or not (NODE_MODULES / "socket.io-client").is_dir():
        pytest.fail("node and socket.io-client are needed: run `make node-deps`")
    where = tmp_path_factory.mktemp("node-example")
    shutil.copy(EXAMPLES / "node_client.mjs", where / "node_client.mjs")
    (where / "node_modules").symlink_to(NODE_MODULES)
    return where


class Example:
    """One example process; its stdout lines collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def starting(self, word: str) -> list[str]:
        return [line for line in self.lines if line.split(" ", 1)[0] == word]

    def ticks_after(self, index: int) -> int:
        return sum(1 for line in self.lines[index:] if line.startswith("tick "))

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def python_example(fleet: Fleet, **env: str) -> Example:
    return Example(
        [sys.executable, str(EXAMPLES / "python_client.py"), *SYMBOLS],
        {"LIVEWS_URL": fleet.url, **env},
    )


def node_example(fleet: Fleet, node_dir: Path, **env: str) -> Example:
    return Example(
        ["node", "node_client.mjs", *SYMBOLS], {"LIVEWS_URL": fleet.url, **env}, cwd=node_dir
    )


SERVICE = {"LIVEWS_CLIENT_ID": CLIENT_ID, "LIVEWS_CLIENT_SECRET": SECRET}


def check_seq_rule(example: Example) -> None:
    """Within a connection, each symbol's seq strictly increases (the examples print them)."""
    held: dict[str, int] = {}
    for line in example.lines:
        if line.startswith("connected"):
            held.clear()
        elif line.startswith("tick "):
            _, symbol, seq, _ltp = line.split(" ")
            assert int(seq) > held.get(symbol, -1), f"seq went back: {line}"
            held[symbol] = int(seq)


def test_clients_md_quotes_the_examples_as_they_are() -> None:
    doc = (ROOT / "docs" / "clients.md").read_text()
    quoted = re.findall(r"<!-- include: (\S+) -->\n```\w*\n(.*?)```\n", doc, re.DOTALL)
    assert sorted(name for name, _ in quoted) == ["examples/node_client.mjs",
                                                  "examples/python_client.py"]  # fmt: skip
    for name, text in quoted:
        assert text == (ROOT / "docs" / name).read_text(), f"docs/clients.md quotes an old {name}"


@pytest.mark.parametrize("language", ["python", "node"])
def test_the_example_streams_with_a_service_token(
    clients_fleet: Fleet, node_dir: Path, language: str
) -> None:
    env = {**SERVICE, "LIVEWS_MAX_TICKS": "20"}
    started = time.monotonic()
    example = (
        python_example(clients_fleet, **env)
        if language == "python"
        else node_example(clients_fleet, node_dir, **env)
    )
    try:
        code = example.wait_exit(60)
    finally:
        example.stop()
    took = time.monotonic() - started
    print(f"\n{language} example: 20 ticks in {took:.1f}s; first lines {example.lines[:4]}")
    assert code == 0, "\n".join(example.lines[-20:])
    assert example.starting("connected") and example.starting("subscribed")
    assert f"subscribed {' '.join(SYMBOLS)} rejected 0" in example.lines
    assert len(example.starting("tick")) >= 20
    check_seq_rule(example)


@pytest.mark.parametrize("language", ["python", "node"])
def test_the_example_is_refused_with_a_wrong_secret(
    clients_fleet: Fleet, node_dir: Path, language: str
) -> None:
    env = {**SERVICE, "LIVEWS_CLIENT_SECRET": "not-the-secret", "LIVEWS_MAX_TICKS": "1"}
    example = (
        python_example(clients_fleet, **env)
        if language == "python"
        else node_example(clients_fleet, node_dir, **env)
    )
    try:
        code = example.wait_exit(60)
    finally:
        example.stop()
    output = "\n".join(example.lines)
    assert code != 0 and "401" in output and not example.starting("tick"), output


async def test_a_service_token_works_at_the_gateway_and_a_forged_one_does_not(
    clients_fleet: Fleet,
) -> None:
    async with httpx.AsyncClient(base_url=clients_fleet.url) as http:
        granted = await http.post(
            "/auth/oauth/token", data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, SECRET),
        )  # fmt: skip
        refused = await http.post(
            "/auth/oauth/token", data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, SECRET + "x"),
        )  # fmt: skip
    assert granted.status_code == 200, granted.text
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    token = granted.json()["access_token"]
    sio = socketio.AsyncClient(reconnection=False)
    got: list[object] = []
    sio.on("snapshot", got.append)
    await sio.connect(clients_fleet.url, transports=["websocket"], auth={"token": token})
    try:
        ack = await sio.call("subscribe", {"symbols": SYMBOLS}, timeout=10)
        assert ack["ok"] is True and ack["subscribed"] == SYMBOLS
        await poll(lambda: got, 10, "a snapshot for the service client")
    finally:
        await close_client(sio)
    # A token altered by one character (its signature) is refused at connect.
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    other = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await other.connect(clients_fleet.url, transports=["websocket"], auth={"token": forged})
    await close_client(other)


async def test_unmodified_clients_stay_away_after_a_logout(
    clients_fleet: Fleet, node_dir: Path
) -> None:
    http, token = await login_async(clients_fleet.url, "XL00001")
    examples = [
        python_example(clients_fleet, LIVEWS_TOKEN=token),
        node_example(clients_fleet, node_dir, LIVEWS_TOKEN=token),
    ]
    try:
        for example in examples:
            await poll(lambda e=example: e.starting("tick"), 30, "ticks before the logout")
        logged_out = time.monotonic()
        assert (await http.post("/auth/logout")).status_code < 300
        codes = [await asyncio.to_thread(e.wait_exit, 20) for e in examples]
        took = time.monotonic() - logged_out
        await asyncio.sleep(3.0)  # long past socket.io's first reconnect delay (~1 s)
        for example in examples:
            assert "bye session_revoked stay-away" in example.lines, example.lines[-10:]
            assert len(example.starting("connected")) == 1, example.lines[-10:]
        print(f"\nBOUND logout: both examples told bye session_revoked and gone in {took:.1f}s, "
              f"exit codes {codes}, no reconnect attempt")  # fmt: skip
        assert codes == [0, 0]
    finally:
        for example in examples:
            example.stop()
        await http.aclose()


async def test_a_revoked_service_client_is_cut_off_and_stays_away(
    clients_fleet: Fleet, node_dir: Path
) -> None:
    """docs/auth.md "Revoke": the operator marks ``svc:<id>`` revoked, as a logout does."""
    client_id, secret = "to-revoke", "revoke-me-" + "r" * 24
    clients_file = clients_fleet.workdir.parent / "clients.json"
    doc = json.loads(clients_file.read_text())
    doc["clients"][client_id] = {"secrets": [hash_secret(secret)]}
    clients_file.write_text(json.dumps(doc))
    env = {"LIVEWS_CLIENT_ID": client_id, "LIVEWS_CLIENT_SECRET": secret}
    examples = [python_example(clients_fleet, **env), node_example(clients_fleet, node_dir, **env)]
    admin = redisconn.connect(clients_fleet.redis_url)
    try:
        for example in examples:
            await poll(lambda e=example: e.starting("tick"), 30, "ticks before the revocation")
        sid = f"svc:{client_id}"
        await admin.set(f"auth:revoked:{sid}", "revoked", ex=900 + 60)
        await admin.publish("auth:revoked", json.dumps({"sid": sid, "reason": "revoked", "ts": 0}))
        codes = [await asyncio.to_thread(e.wait_exit, 20) for e in examples]
        await asyncio.sleep(3.0)
        for example in examples:
            assert "bye session_revoked stay-away" in example.lines, example.lines[-10:]
            assert len(example.starting("connected")) == 1, example.lines[-10:]
        assert codes == [0, 0]
        # A new token for it is still minted (the client is in the file) but refused.
        async with httpx.AsyncClient(base_url=clients_fleet.url) as http:
            granted = await http.post(
                "/auth/oauth/token", data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )  # fmt: skip
        sio = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(
                clients_fleet.url, transports=["websocket"],
                auth={"token": granted.json()["access_token"]},
            )  # fmt: skip
        await close_client(sio)
    finally:
        for example in examples:
            example.stop()
        await admin.aclose()


async def test_unmodified_clients_reconnect_by_themselves_after_a_drain(
    clients_fleet: Fleet, node_dir: Path
) -> None:
    """Last in the module: it takes gateways down (and brings them back)."""
    before = clients_fleet.connections()
    examples = [python_example(clients_fleet, **SERVICE),
                node_example(clients_fleet, node_dir, **SERVICE)]  # fmt: skip
    drained: list[str] = []
    try:
        for example in examples:
            await poll(lambda e=example: e.starting("tick"), 30, "ticks before the drain")
        now = clients_fleet.connections()
        drained = [name for name, count in now.items() if count > before.get(name, 0)]
        assert drained and len(drained) < len(now), (before, now)
        marks = [len(example.lines) for example in examples]
        began = time.monotonic()
        for name in drained:
            clients_fleet.signal(name)  # SIGTERM: bye server_shutdown, then the drain
        for example, mark in zip(examples, marks, strict=True):
            await poll(
                lambda e=example, m=mark: any(x.startswith("connected") for x in e.lines[m:])
                and e.ticks_after(m) > 0,
                30, "a reconnect with fresh ticks",
            )  # fmt: skip
        took = time.monotonic() - began
        for example, mark in zip(examples, marks, strict=True):
            tail = example.lines[mark:]
            assert "bye server_shutdown reconnect" in tail, tail[:10]
            assert example.proc.poll() is None  # still running: nothing had to restart it
            check_seq_rule(example)
        print(f"\nRECOVERY drain of {drained}: python and node examples reconnected by "
              f"themselves with fresh ticks within {took:.1f}s (bound 30s)")  # fmt: skip
    finally:
        for example in examples:
            example.stop()
        for name in drained:
            with contextlib.suppress(Exception):
                await clients_fleet.restart(name)
