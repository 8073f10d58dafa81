"""One HSM data socket on ``websockets``' asyncio client: no threads.

:class:`HsmConnection` has the face :class:`~livews_marketdata.upstream.fyers.Connection`
asks for and reports exactly what the SDK adapter reports, into the same :class:`Bridge`:
data dicts to its buffer; the auth result, acks, server errors and the close to its control
queue. The supervisor (:class:`~livews_marketdata.upstream.fyers.FyersSource`) cannot tell the
two apart, which is the point: it keeps owning reconnects, stalls, expiry and the limit.

Per socket: ``open()`` derives the HSM key from the access token (an expired or unreadable
token is reported like the SDK does, ``{"type": "cn", "code": -99 | -300}``, and nothing is
opened), connects, sends auth and the mode, then one task reads frames and another sends the
app-level ping every 10 s. ``subscribe()`` turns symbols into topics with the fytokens the
ingestor's :class:`~livews_marketdata.resolve.SymbolResolver` already fetched (it asks only
for those it lacks), so symbol-token is called once per symbol, not twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from livews_common.models import Tick
from livews_marketdata.errors import UpstreamError
from livews_marketdata.upstream.hsm import protocol
from livews_marketdata.upstream.hsm.ticks import TickDecoder

log = logging.getLogger(__name__)

DATA_TYPES = frozenset({"sf", "if", "dp"})


class EventSink(Protocol):
    """Where a socket reports (a :class:`Bridge`, or one socket's share of it)."""

    def push_data(self, generation: int, update: object) -> None: ...

    def push_batch(self, generation: int, updates: list[object]) -> None: ...

    def push_control(self, generation: int, kind: str, payload: Any) -> None: ...


#: ``(symbols) → {symbol: fytoken}`` for the symbols the upstream knows.
FytokenLookup = Callable[[Sequence[str]], Awaitable[Mapping[str, str]]]


class _DirectConnection(ClientConnection):
    """A client connection that hands each whole binary message to ``on_binary`` at once.

    ``websockets`` puts every frame in its assembler's queue and wakes the reading task for
    it: per upstream frame a queue round and a task switch, about 15 % of the ingestor's CPU
    at 5,000 ticks/s. A binary frame that is a whole message (``fin``) while nothing waits in
    that queue is decoded right where it is parsed instead; anything else (text, fragments,
    a frame behind queued ones, control frames) takes the library's own path, so the order
    of messages is kept and the close is reported by the reader as before.
    """

    on_binary: Callable[[bytes], None] | None = None

    def process_event(self, event: Event) -> None:
        on_binary = self.on_binary
        if (
            on_binary is not None
            and isinstance(event, Frame)
            and event.opcode is Opcode.BINARY
            and event.fin
            and self.response is not None
            and not _queued(self)
        ):
            data = event.data
            try:
                on_binary(data if type(data) is bytes else bytes(data))
            except Exception:  # never into the transport: the frames after it would be lost
                log.exception("handling an upstream message failed")
            return
        super().process_event(event)


def _queued(conn: ClientConnection) -> bool:
    """Whether the assembler holds frames the reader has not taken (unknown: assume so)."""
    queue = getattr(getattr(conn.recv_messages, "frames", None), "queue", None)
    return queue is None or bool(queue)


class HsmConnection:
    """One upstream socket (see the module docstring)."""

    def __init__(
        self,
        *,
        url: str,
        access_token: str,
        bridge: EventSink,
        generation: int,
        fytokens: FytokenLookup,
        index_map: Mapping[str, str],
        fallback_index_map: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        lite: bool = False,
        ping_interval: float = protocol.PING_INTERVAL,
        name: str = "fyers",
    ) -> None:
        self._url = url
        self._access_token = access_token
        self._bridge = bridge
        self._generation = generation
        self._fytokens = fytokens
        self._index_map = index_map
        self._fallback_index_map = fallback_index_map
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._name = name
        self.symbols: dict[str, str] = {}  # topic → symbol (what the decoder names)
        self._topic_of: dict[tuple[str, str], str] = {}  # (data type, symbol) → topic
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: list[bytes] = []
        self._flusher: asyncio.Task[None] | None = None
        self._batch: list[object] = []
        self.sent: list[bytes] = []  # every frame sent, when ``record_sent`` (tests)
        self.record_sent = False
        self.decoder = TickDecoder(
            self.symbols, lite=lite, on_message=self._on_message, on_error=self._on_error,
            send=self._outbox.append, ack_frame=protocol.ack_frame, on_tick=self._batch.append,
        )  # fmt: skip
        self._lite = lite

    # -- what the decoder says ------------------------------------------------------------

    def _on_message(self, message: dict[str, Any] | Tick) -> None:
        if isinstance(message, Tick) or message.get("type") in DATA_TYPES:
            self._batch.append(message)  # handed over once the whole frame is decoded
        else:
            self._bridge.push_control(self._generation, "message", message)

    def _on_error(self, error: Any) -> None:
        self._bridge.push_control(self._generation, "error", error)

    # -- the socket -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and authenticate; the auth reply (or an error) arrives as a control event."""
        try:
            key = protocol.hsm_key(self._access_token)
        except protocol.TokenProblem as exc:
            code = -99 if exc.expired else -300
            self._on_error({"type": "cn", "code": code, "message": str(exc), "s": "error"})
            return
        try:
            ws = await asyncio.wait_for(
                connect(
                    self._url, compression=None, ping_interval=None, max_size=None,
                    open_timeout=None, close_timeout=1.0, user_agent_header=None,
                    create_connection=_DirectConnection,
                ),
                self._connect_timeout,
            )  # fmt: skip
        except (OSError, WebSocketException, TimeoutError) as exc:
            self._on_error(exc)
            self._bridge.push_control(self._generation, "close", _closed())
            return
        self._ws = ws
        if isinstance(ws, _DirectConnection):
            ws.on_binary = self._on_binary
        await self._send(protocol.auth_frame(key))
        await self._send(protocol.mode_frame(self._lite))
        self._tasks = [
            asyncio.create_task(self._read(ws), name=f"{self._name}-read"),
            asyncio.create_task(self._ping(), name=f"{self._name}-ping"),
        ]

    async def _send(self, frame: bytes) -> None:
        ws = self._ws
        if ws is None:
            raise UpstreamError("not_connected", "the socket is not open")
        if self.record_sent:
            self.sent.append(frame)
        try:
            await ws.send(frame)
        except ConnectionClosed:
            pass  # the reader reports the close

    def _on_binary(self, message: bytes) -> None:
        """One whole binary message, decoded where the connection parsed it (no task switch)."""
        self.decoder.feed(message)
        batch = self._batch
        if batch:
            self._bridge.push_batch(self._generation, batch[:])
            batch.clear()
        if self._outbox and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        outbox = self._outbox
        while outbox:
            await self._send(outbox.pop(0))

    async def _read(self, ws: ClientConnection) -> None:
        decoder, batch = self.decoder, self._batch
        bridge, generation = self._bridge, self._generation
        try:
            async for message in ws:  # what the connection did not decode itself
                decoder.feed(message)
                if batch:
                    bridge.push_batch(generation, batch[:])
                    batch.clear()
                await self._flush()
        except ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code not in (1000, 1001):
                self._on_error(exc)
        except OSError as exc:
            self._on_error(exc)
        self._bridge.push_control(self._generation, "close", _closed())

    async def _ping(self) -> None:
        while True:
            await self._send(protocol.PING)
            await asyncio.sleep(self._ping_interval)

    # -- subscriptions --------------------------------------------------------------------

    async def subscribe(self, symbols: list[str], data_type: str) -> None:
        known = await self._fytokens(symbols)
        invalid = [s for s in symbols if s not in known]
        converted = protocol.to_topics(
            ((s, known[s]) for s in symbols if s in known), data_type, self._index_map,
            self._fallback_index_map,
        )  # fmt: skip
        if invalid:
            self._on_error(
                {"code": -300, "message": "Please provide a valid symbol", "s": "error",
                 "type": "sub", "invalid_symbols": invalid}
            )  # fmt: skip
        if converted.skipped_index_depth:
            self._on_error(
                {"code": -300, "message": "Index does not have market depth", "s": "error",
                 "type": "sub"}
            )  # fmt: skip
        if not converted.topics:
            return
        self.symbols.update(converted.topics)
        for topic, symbol in converted.topics.items():
            self._topic_of[(data_type, symbol)] = topic
        for frame in protocol.subscribe_frames(list(converted.topics), self._access_token):
            await self._send(frame)

    async def unsubscribe(self, symbols: list[str], data_type: str) -> None:
        topics = [t for s in symbols if (t := self._topic_of.pop((data_type, s), None))]
        if not topics:
            return
        self.decoder.unsubscribing = list(topics)
        for frame in protocol.unsubscribe_frames(topics, self._access_token):
            await self._send(frame)

    async def close(self, grace: float = 3.0) -> None:
        if self._flusher is not None:
            self._tasks.append(self._flusher)
            self._flusher = None
        for task in self._tasks:
            task.cancel()
        ws, self._ws = self._ws, None
        if isinstance(ws, _DirectConnection):
            ws.on_binary = None  # nothing decoded once closing, as with the reader cancelled
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), grace)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []


def _closed() -> dict[str, Any]:
    return {"code": 200, "message": "Connection Closed", "s": "ok"}
