"""A Socket.IO client that records everything a gateway sends it — for tests and benchmarks.

It speaks the gateway contract (CONTRACT §3) with the real python-socketio client: connects
with a token, subscribes on every (re)connect, merges snapshots and ticks per symbol, and
counts what would be contract violations (a live tick not newer than what it holds).

The wire encoding is JSON Tick v1 or the compact rows of CONTRACT §3 v1.1 (``encoding``,
default from env ``LIVEWS_TEST_FORMAT``): compact rows are decoded back into Tick v1 dicts
with one ``CompactDecoder`` per connection, so what is recorded is the same either way.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from livews_common.compact import CompactDecoder

TokenSource = Callable[[], Awaitable[str]]
ENCODINGS = ("json", "compact")


def default_encoding() -> str:
    """The encoding fleet tests use: env ``LIVEWS_TEST_FORMAT`` (``json`` or ``compact``)."""
    value = os.environ.get("LIVEWS_TEST_FORMAT", "json") or "json"
    if value not in ENCODINGS:
        raise ValueError(f"LIVEWS_TEST_FORMAT must be one of {ENCODINGS}, not {value!r}")
    return value


async def close_client(sio: socketio.AsyncClient) -> None:
    """Disconnect ``sio`` for good and close its aiohttp session, whatever state it is in.

    ``shutdown`` disconnects, or stops a reconnecting client by waiting for the attempt in
    flight — which may connect again: a websocket that nobody closes, whose aiohttp
    connection is then reported unclosed ("Unclosed connection", a ResourceWarning) when the
    garbage collector gets to it, in whichever later test runs then. So look again after it.
    """
    await sio.shutdown()
    if sio.connected:
        await sio.disconnect()
    if sio.eio.state == "connected":  # an Engine.IO session whose Socket.IO connect never came
        await sio.eio.disconnect(abort=True)
    # A refused handshake leaves engineio's aiohttp session open.
    http = getattr(sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


@dataclass
class Recording:
    """What one client has seen."""

    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # symbol → newest Tick
    ticks: int = 0
    frames: int = 0
    snapshots: int = 0
    connects: int = 0
    disconnects: int = 0
    stale_ticks: int = 0  # live ticks whose seq was not above what was held (must stay 0)
    seq_jumps: int = 0  # a seq more than one above what was held (conflation or a gap)
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    byes: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    connect_errors: list[Any] = field(default_factory=list)
    wire_bytes: int = 0  # JSON size of the tick payloads as received (snapshot ticks + ticks)
    raw_frames: list[Any] = field(default_factory=list)  # undecoded payloads, if keep_raw

    def seqs(self) -> dict[str, int]:
        return {symbol: tick["seq"] for symbol, tick in self.latest.items()}


class RecordingClient:
    """Connects to ``url`` (a gateway or the load balancer) and records the stream."""

    def __init__(
        self,
        url: str,
        token: TokenSource,
        symbols: list[str],
        *,
        mode: str = "quote",
        keep_latencies: bool = True,
        reconnection: bool = True,
        encoding: str | None = None,
        keep_raw: bool = False,
    ) -> None:
        self.url = url
        self.symbols = symbols
        self.mode = mode
        self.rec = Recording()
        self.connected = asyncio.Event()
        self.snapshot_seen = asyncio.Event()
        self._token = token
        self._keep_latencies = keep_latencies
        self.encoding = default_encoding() if encoding is None else encoding
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, not {self.encoding!r}")
        self._keep_raw = keep_raw
        self._decoder = CompactDecoder()
        self.sio = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1.0,
            randomization_factor=0.5,
        )  # fmt: skip
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("snapshot", self._on_snapshot)
        self.sio.on("ticks", self._on_ticks)
        self.sio.on("status", self._on_status)
        self.sio.on("bye", self._on_bye)

    async def _auth(self) -> dict[str, str]:
        auth = {"token": await self._token()}
        if self.encoding == "compact":
            auth["format"] = "compact"
        return auth

    async def start(self, wait_timeout: float = 10.0) -> None:
        """Connect (the token is fetched anew on every reconnect) and subscribe."""
        await self.sio.connect(
            self.url, transports=["websocket"], auth=self._auth, socketio_path="/socket.io",
            wait_timeout=wait_timeout,
        )  # fmt: skip

    async def stop(self) -> None:
        await close_client(self.sio)

    async def _on_connect(self) -> None:
        self._decoder.reset()  # a new connection starts from key rows
        self.rec.connects += 1
        self.connected.set()
        ack = await self.sio.call(
            "subscribe", {"symbols": self.symbols, "mode": self.mode}, timeout=15
        )
        if isinstance(ack, dict):
            self.rec.rejected.extend(ack.get("rejected", []))

    async def _on_disconnect(self, *args: Any) -> None:
        self.rec.disconnects += 1
        self.connected.clear()
        self.snapshot_seen.clear()

    async def _on_connect_error(self, data: Any) -> None:
        self.rec.connect_errors.append(data)

    def _merge(self, tick: dict[str, Any], live: bool) -> None:
        held = self.rec.latest.get(tick["symbol"])
        if held is not None and tick["seq"] <= held["seq"]:
            if live:
                self.rec.stale_ticks += 1
            return
        if held is not None and tick["seq"] > held["seq"] + 1:
            self.rec.seq_jumps += 1
        self.rec.latest[tick["symbol"]] = tick

    def _decode(self, ticks: Any) -> list[dict[str, Any]]:
        """Tick v1 dicts from a payload's ticks (rows on a compact connection), counting bytes."""
        self.rec.wire_bytes += len(json.dumps(ticks, separators=(",", ":")))
        if self._keep_raw:
            self.rec.raw_frames.append(ticks)
        if self.encoding != "compact":
            return list(ticks)
        # a depth snapshot's entries stay objects; quote ticks are rows
        return [self._decoder.decode(t) if isinstance(t, list) else t for t in ticks]

    async def _on_snapshot(self, data: dict[str, Any]) -> None:
        self.rec.snapshots += 1
        for tick in self._decode(data.get("ticks", [])):
            self._merge(tick, live=False)
        self.snapshot_seen.set()

    async def _on_ticks(self, payload: list[Any]) -> None:
        now = time.time() * 1000
        ticks = self._decode(payload)
        self.rec.frames += 1
        self.rec.ticks += len(ticks)
        for tick in ticks:
            if self._keep_latencies:
                self.rec.latencies_ms.append(now - tick["ingest_ts"])
            self._merge(tick, live=True)

    async def _on_status(self, data: dict[str, Any]) -> None:
        self.rec.statuses.append(data)

    async def _on_bye(self, data: dict[str, Any]) -> None:
        self.rec.byes.append(data)
