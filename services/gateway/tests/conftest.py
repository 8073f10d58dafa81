"""Gateway test fixtures: recording clients (python-socketio and Node socket.io-client).

Every wait has a deadline and is woken by the events it waits for; nothing sleeps for luck.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio

from livews_devtools.recorder import close_client

NODE_DIR = Path(__file__).parent / "node"
SERVER_EVENTS = ("status", "snapshot", "ticks", "depth", "bars", "bye", "auth:expiring")


class Recorder:
    """Events in arrival order, and waiting for one that matches."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.stamps: list[float] = []  # time.monotonic() of each event
        self._changed = asyncio.Event()

    def record(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        self.stamps.append(time.monotonic())
        self._changed.set()

    def time_of(self, name: str) -> float:
        """When the first ``name`` event arrived (monotonic clock)."""
        return next(
            t for (event, _), t in zip(self.events, self.stamps, strict=True) if event == name
        )

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def ticks(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every live tick received (optionally of one symbol), in order."""
        out = [t for frame in self.of("ticks") for t in frame]
        return [t for t in out if symbol is None or t["symbol"] == symbol]

    async def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                tail = [(e, str(d)[:120]) for e, d in self.events[-8:]]
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {tail}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_event(self, name: str, timeout: float = 10.0, count: int = 1) -> Any:
        await self.wait_for(lambda: len(self.of(name)) >= count, f"{count}× {name!r}", timeout)
        return self.of(name)[count - 1]


class Probe(Recorder):
    """A python-socketio AsyncClient that records what the gateway sends."""

    def __init__(self, reconnection: bool = False) -> None:
        super().__init__()
        self.sio = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=0.5
        )
        for name in SERVER_EVENTS:
            self.sio.on(name, self._handler(name))
        self.sio.on("connect", lambda: self.record("connect", None))
        self.sio.on("connect_error", lambda data=None: self.record("connect_error", data))
        self.sio.on("disconnect", lambda reason=None: self.record("disconnect", reason))

    def _handler(self, name: str) -> Callable[..., None]:
        def handle(data: Any = None) -> None:
            self.record(name, data)

        return handle

    async def connect(self, url: str, token: str | None, **kw: Any) -> None:
        auth = {"token": token} if token is not None else None
        await self.sio.connect(
            url, transports=["websocket"], auth=kw.pop("auth", auth), wait_timeout=10, **kw
        )

    async def refused(self, url: str, token: str | None, **kw: Any) -> dict[str, Any]:
        """Connect expecting a refusal; returns the connect_error data."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect(url, token, **kw)
        error: dict[str, Any] = await self.wait_event("connect_error")
        return error

    async def call(self, event: str, data: Any = None, timeout: float = 10.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        await close_client(self.sio)


@pytest.fixture
async def probes() -> AsyncIterator[Callable[..., Probe]]:
    """``probes()`` makes a :class:`Probe`; all are closed after the test."""
    made: list[Probe] = []

    def make(**kw: Any) -> Probe:
        probe = Probe(**kw)
        made.append(probe)
        return probe

    try:
        yield make
    finally:
        for probe in made:
            await probe.close()


class NodeProbe(Recorder):
    """The Node socket.io-client (tests/node/client.mjs) in a subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        super().__init__()
        self.proc = proc
        self._ids = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            message = json.loads(line)
            if message["event"] == "ack":
                self.record(f"ack:{message['id']}", message["data"])
            self.record(message["event"], message.get("data"))

    def _send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def call(self, event: str, data: Any = None, timeout: float = 10.0) -> Any:
        self._ids += 1
        self._send({"op": "emit", "id": self._ids, "event": event, "data": data})
        return await self.wait_event(f"ack:{self._ids}", timeout)

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                self._send({"op": "exit"})
                await asyncio.wait_for(self.proc.wait(), 5)
            except (TimeoutError, ConnectionResetError, BrokenPipeError):
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def _node_ready() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the Node socket.io-client tests need it")
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed; run `npm ci` in services/gateway/tests/node")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return node


@pytest.fixture
async def node_clients() -> AsyncIterator[Callable[..., Any]]:
    """``await node_clients(url, token)`` starts a Node client; all are stopped after the test."""
    node = _node_ready()
    made: list[NodeProbe] = []

    async def start(url: str, token: str | None) -> NodeProbe:
        args = [str(NODE_DIR / "client.mjs"), url] + ([token] if token is not None else [])
        proc = await asyncio.create_subprocess_exec(
            node, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=NODE_DIR,
        )  # fmt: skip
        probe = NodeProbe(proc)
        made.append(probe)
        return probe

    try:
        yield start
    finally:
        for probe in made:
            await probe.close()


@pytest.fixture
def demand_of(redis_client: Any) -> Callable[..., Any]:
    """``await demand_of(instance, predicate)``: the gateway's demand record, once it matches."""

    async def wait(
        instance: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        key = f"md:demand:{instance}"
        pubsub = redis_client.pubsub()
        await pubsub.subscribe("md:demand")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await redis_client.get(key)
                    record: dict[str, Any] = json.loads(raw) if raw else {}
                    if predicate(record):
                        return record
                    # Woken by the gateway's PUBLISH after each write.
                    while (await pubsub.get_message(timeout=timeout)) is None:
                        pass
        finally:
            await pubsub.aclose()

    return wait
