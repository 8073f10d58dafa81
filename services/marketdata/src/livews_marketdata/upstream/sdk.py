"""fyers-apiv3's ``FyersDataSocket``, adapted to run inside a long-lived asyncio service.

What the SDK (3.2.0, ``fyers_apiv3/FyersWebsocket/data_ws.py``) does, and what we do about it:

- **Process-wide singleton**: ``__new__`` caches one instance and a second construction re-runs
  ``__init__`` on it while its old threads still run. :class:`FeedSocket` overrides ``__new__``
  so every connection is a fresh object with its own state and threads; the SDK's cached
  ``_instance`` is never set.
- **Hard-coded endpoints**: the socket URL is the name-mangled ``_FyersDataSocket__url``; the
  symbol-token URL is set in ``SymbolConversion.__init__``; the index map is fetched from
  ``public.fyers.in`` on first use. :func:`configure` swaps in a ``SymbolConversion`` subclass
  pointed at ``{FYERS_DATA_BASE}/symbol-token`` and pre-fills its index-map cache, so the SDK
  never reaches Fyers' public host.
- **Blocking calls without timeouts**: ``subscribe()``/``unsubscribe()`` POST to symbol-token
  with ``requests`` and no timeout, then ``subscribe()`` sleeps 0.5 s per 1,500 symbols;
  ``connect()`` sleeps 2 s whatever happens. The SDK module's ``requests`` is replaced by a
  shim that adds a timeout; ``connect()`` is overridden to start the socket without the sleep
  (we wait for the server's auth reply instead); every call runs on a :class:`CallThread`.
- **Non-daemon threads**: its socket, sender and ping threads would keep the process alive;
  the ping thread sleeps 10 s between pings, so ``close_connection()`` takes up to 10 s. The
  module's ``Thread`` is replaced by a daemon subclass, the ping loop by one that stops at
  once, and :meth:`FeedSocket.teardown` closes in well under a second.
- **Its own reconnect** neither resubscribes nor reports (it only prints), sleeps 5 s+ on the
  socket thread, and rebuilds ``symbol_token`` empty: it is turned off (``reconnect=False``);
  :mod:`livews_marketdata.upstream.fyers` supervises instead.
- **unsubscribe() only knows the last subscribe() call**: it filters the request through
  ``scrips_count[channel]``, which each ``subscribe()`` *replaces*, and removes from the list
  it iterates. :meth:`FeedSocket.unsubscribe` first sets that list to every subscribed topic.
- **Log files**: each construction (and each ``SymbolConversion``) opens
  ``<log_path>/fyersDataSocket.log`` through aws-lambda-powertools; with ``log_path=None`` that
  is the working directory. We close those handlers at once and send the SDK's logging to one
  rotating file in ``MARKETDATA_SDK_LOG_DIR`` (secrets redacted), or nowhere when disabled.
- **Expiry**: an expired token gives ``on_error({"type": "cn", "code": -99, …})`` — before
  connecting if the JWT's ``exp`` has passed, or from the server — and then nothing. Note that
  the SDK's 5,000-symbol error uses code -99 too, without a ``type``.

These are deliberate, narrow replacements of SDK internals; :data:`SUPPORTED_SDK` names the
version they were checked against (tests/test_sdk.py exercises them against the emulator).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import logging
import logging.handlers
import queue
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import requests
import websocket

with warnings.catch_warnings():
    # The SDK imports pkg_resources, deprecated by setuptools; nothing we can change.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    from fyers_apiv3.FyersWebsocket import data_ws

from livews_common.logs import redact
from livews_marketdata.errors import UpstreamError
from livews_marketdata.upstream.bridge import Bridge

log = logging.getLogger(__name__)

SUPPORTED_SDK = "3.2.0"
SDK_LOGGER = "livews_marketdata.fyers_sdk"
SDK_LOG_FILE = "fyersDataSocket.log"
DATA_TYPES = frozenset({"sf", "if", "dp"})
QUOTES = "SymbolUpdate"
DEPTH = "DepthUpdate"
_ORIGINAL_SYMBOL_CONVERSION: Any = data_ws.SymbolConversion
T = TypeVar("T")


# -- process-wide SDK setup --------------------------------------------------------------


class _TimeoutRequests:
    """Stands in for the ``requests`` module inside the SDK: same calls, with a timeout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return requests.post(url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return requests.get(url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


class _DaemonThread(threading.Thread):
    """The SDK's ``Thread``: daemonic, so a stuck SDK thread never keeps the process alive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.daemon = True


class _SymbolConversion(_ORIGINAL_SYMBOL_CONVERSION):  # type: ignore[misc]
    """The SDK's symbol → HSM topic conversion, pointed at our symbol-token URL."""

    token_url: ClassVar[str] = ""

    def __init__(self, access_token: str, data_type: str, log_path: str) -> None:
        # Deliberately not calling the SDK's __init__: it opens a log file per call.
        self.data_type = data_type
        self.access_token = access_token.split(":")[1] if ":" in access_token else access_token
        self.log_path = log_path
        self.symbols_token_api = type(self).token_url
        self.data_logger = logging.getLogger(SDK_LOGGER)


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class SdkSetup:
    """What :func:`configure` installed; the SDK is process-wide, so is this."""

    def __init__(self) -> None:
        self.log_path = ""
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._handler: logging.Handler | None = None

    def configure(
        self,
        *,
        token_url: str,
        index_map: dict[str, str],
        rest_timeout: float,
        connect_timeout: float,
        log_dir: Path | None,
    ) -> None:
        data_ws.requests = _TimeoutRequests(rest_timeout)
        data_ws.Thread = _DaemonThread
        data_ws.SymbolConversion = _SymbolConversion
        _SymbolConversion.token_url = token_url
        _SymbolConversion._index_hsm_mapping_cache = dict(index_map)
        # The handshake (and a half-received frame) must not hang forever.
        websocket.setdefaulttimeout(connect_timeout)
        self._configure_logging(log_dir)

    def _configure_logging(self, log_dir: Path | None) -> None:
        logger = logging.getLogger(SDK_LOGGER)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        if self._handler is not None:
            logger.removeHandler(self._handler)
            logging.getLogger("websocket").removeHandler(self._handler)
            self._handler.close()
        handler: logging.Handler
        if log_dir is None:
            # The SDK's constructor insists on opening <log_path>/fyersDataSocket.log: give it
            # a private scratch directory that is removed at exit, and log nowhere.
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="livews-fyers-sdk-")
            self.log_path = self._scratch.name
            handler = logging.NullHandler()
        else:
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = str(log_dir)
            handler = logging.handlers.RotatingFileHandler(
                log_dir / SDK_LOG_FILE, maxBytes=10_000_000, backupCount=3, delay=True
            )
            handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(message)s"))
        self._handler = handler
        logger.addHandler(handler)
        # websocket-client logs every unclean close at ERROR; the supervisor reports those
        # itself, so its own lines go to the SDK's log with the SDK's.
        ws_logger = logging.getLogger("websocket")
        ws_logger.propagate = False
        ws_logger.addHandler(handler)


_SETUP = SdkSetup()


def configure(
    *,
    token_url: str,
    index_map: dict[str, str],
    rest_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    log_dir: Path | None = None,
) -> None:
    """Point the SDK at our endpoints and logs (idempotent; call before any connection)."""
    _SETUP.configure(
        token_url=token_url, index_map=index_map, rest_timeout=rest_timeout,
        connect_timeout=connect_timeout, log_dir=log_dir,
    )  # fmt: skip
    version = sdk_version()
    if version != SUPPORTED_SDK:
        log.warning(
            "fyers-apiv3 %s is not the version this adapter was checked against (%s)",
            version, SUPPORTED_SDK,
        )  # fmt: skip


def sdk_version() -> str:
    try:
        return importlib.metadata.version("fyers-apiv3")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def bundled_index_map() -> dict[str, str]:
    """The index map shipped inside the SDK (its own fallback), for when none can be fetched."""
    import json
    from importlib import resources

    text = resources.files("fyers_apiv3.FyersWebsocket").joinpath("map.json").read_text()
    mapping: dict[str, str] = json.loads(text)["index_dict"]
    return mapping


# -- one socket ---------------------------------------------------------------------------


class FeedSocket(data_ws.FyersDataSocket):  # type: ignore[misc]
    """One upstream connection: a fresh ``FyersDataSocket`` that tears down quickly."""

    def __new__(cls, *args: Any, **kwargs: Any) -> FeedSocket:
        return object.__new__(cls)  # not the SDK's process-wide singleton

    def __init__(
        self,
        *,
        access_token: str,
        url: str,
        log_path: str,
        on_message: Callable[[Any], None],
        on_error: Callable[[Any], None],
        on_close: Callable[[Any], None],
        name: str = "fyers",
    ) -> None:
        super().__init__(
            access_token=access_token, write_to_file=True, log_path=log_path, litemode=False,
            reconnect=False, on_message=on_message, on_error=on_error, on_close=on_close,
            reconnect_retry=0,
        )  # fmt: skip
        self._release_sdk_log_handler()
        self.data_logger = logging.getLogger(SDK_LOGGER)
        self._FyersDataSocket__url = url
        self._stopping = threading.Event()
        self._app: websocket.WebSocketApp | None = None
        self._ws_core: websocket.WebSocket | None = None
        self._name = name

    def _release_sdk_log_handler(self) -> None:
        handler = getattr(self.data_logger, "logger_handler", None)
        if isinstance(handler, logging.Handler):
            logging.getLogger("FyersDataSocket").removeHandler(handler)
            handler.close()

    # -- overrides of SDK internals (see the module docstring) ----------------------------

    def _FyersDataSocket__init_connection(self) -> None:
        if not self.access_token_to_hsmtoken():
            return  # it reported why through on_error (expired: code -99)
        app = websocket.WebSocketApp(
            self._FyersDataSocket__url,
            on_message=lambda ws, msg: self._FyersDataSocket__response_msg(msg),
            on_error=lambda ws, err: self.On_error(err),
            on_close=lambda ws, code, reason: self._FyersDataSocket__on_close(ws, code, reason),
            on_open=self._opened,
        )
        self._app = app
        self.ws_thread = threading.Thread(
            target=app.run_forever, name=f"{self._name}-socket", daemon=True
        )
        self.ws_thread.start()

    def _opened(self, app: websocket.WebSocketApp) -> None:
        # Keep the connection object: when the server closes first, websocket-client drops
        # its reference without closing the descriptor (it thinks it is closed already).
        self._ws_core = app.sock
        self._FyersDataSocket__on_open(app)

    def _FyersDataSocket__ping(self) -> None:
        while not self._stopping.is_set():
            ws = self._FyersDataSocket__ws_object
            if ws is None or not ws.sock or not ws.sock.connected:
                return
            try:
                ws.send(bytes([0, 1, 11]), opcode=websocket.ABNF.OPCODE_BINARY)
            except Exception:  # the socket closed under us: the close callback reports it
                return
            self._stopping.wait(10)

    def connect(self) -> None:
        """Start the socket; unlike the SDK's, no 2 s sleep and no premature on_connect."""
        self._FyersDataSocket__init_connection()

    def unsubscribe(self, symbols: list[str], data_type: str = QUOTES, channel: int = 11) -> None:
        # The SDK filters through the last subscribe() call's topics only: widen it to all.
        self.scrips_count[channel] = list(self.symbol_token)
        super().unsubscribe(symbols=symbols, data_type=data_type, channel=channel)

    def teardown(self, timeout: float) -> None:
        """Close the socket and stop every thread of this connection (bounded by timeout).

        Not ``WebSocketApp.close()``: it reads the peer's close reply on *this* thread while
        the socket thread reads too, and when that race goes wrong it closes the descriptor
        without shutting it down, leaving the socket thread blocked in ``select()`` for good.
        Instead: a close frame without waiting, then ``shutdown()``, which wakes the socket
        thread; it tears the connection down itself.
        """
        deadline = time.monotonic() + timeout
        self.restart_flag = False
        self._stopping.set()
        app = self._app
        ws = (app.sock if app is not None else None) or self._ws_core
        if app is not None:
            app.keep_running = False
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.send_close()
            raw = ws.sock
            if raw is not None:
                with contextlib.suppress(OSError):
                    raw.shutdown(socket.SHUT_RDWR)
        self._FyersDataSocket__ws_object = None
        stop = self.message_thread_stop_event
        if stop is not None:
            stop.set()
            with self.message_lock:
                self.message_condition.notify_all()
        me = threading.current_thread()
        for thread in (self.ws_thread, self.message_thread, self.ping_thread):
            if isinstance(thread, threading.Thread) and thread is not me and thread.is_alive():
                began = time.monotonic()
                thread.join(max(0.0, deadline - time.monotonic()))
                if time.monotonic() - began > 0.5:
                    log.warning(
                        "slow SDK thread at teardown",
                        extra={"sdk_thread": thread.name, "alive": thread.is_alive(),
                               "seconds": round(time.monotonic() - began, 2)},
                    )  # fmt: skip
        for core in {id(c): c for c in (ws, self._ws_core) if c is not None}.values():
            # Closes the descriptor if the socket thread did not.
            with contextlib.suppress(Exception):
                core.shutdown()  # type: ignore[no-untyped-call]


# -- blocking calls off the event loop ----------------------------------------------------


class CallThread:
    """A daemon thread that runs blocking calls in order; one per connection.

    Daemonic so that a call wedged in the SDK (a REST call that never returns) can be
    abandoned: the supervisor stops waiting, builds a new connection with a new thread, and
    the process can still exit.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting coroutine
                future.set_exception(exc)

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, future))
        return future

    async def call(self, fn: Callable[[], T], *, limit: float, what: str) -> T:
        """Run ``fn`` on this thread; :class:`UpstreamError` if it takes over ``limit`` s."""
        future = asyncio.wrap_future(self.submit(fn))
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise UpstreamError("sdk_call_timeout", f"{what} took over {limit:.0f}s") from None

    def stop(self) -> None:
        self._queue.put(None)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class SdkConnection:
    """One upstream socket through the SDK, with an async face.

    Callbacks are routed into ``bridge`` tagged with ``generation``: data updates to its
    buffer, everything else (auth result, errors, close) to its control queue.
    """

    def __init__(
        self,
        *,
        url: str,
        access_token: str,
        bridge: Bridge,
        generation: int,
        call_timeout: float,
    ) -> None:
        self._url = url
        self._access_token = access_token
        self._bridge = bridge
        self._generation = generation
        self._timeout = call_timeout
        self._calls = CallThread(f"fyers-sdk-{generation}")
        self._socket: FeedSocket | None = None

    def _on_message(self, message: Any) -> None:
        if type(message) is dict and message.get("type") in DATA_TYPES:
            self._bridge.push_data(self._generation, message)
        else:
            self._bridge.push_control(self._generation, "message", message)

    def _on_error(self, error: Any) -> None:
        self._bridge.push_control(self._generation, "error", error)

    def _on_close(self, message: Any) -> None:
        self._bridge.push_control(self._generation, "close", message)

    async def open(self) -> None:
        """Start connecting; the auth reply (or an error) arrives as a control event."""

        def build_and_connect() -> None:
            sock = FeedSocket(
                access_token=self._access_token, url=self._url, log_path=_SETUP.log_path,
                on_message=self._on_message, on_error=self._on_error, on_close=self._on_close,
                name=f"fyers-{self._generation}",
            )  # fmt: skip
            self._socket = sock
            sock.connect()

        await self._calls.call(build_and_connect, limit=self._timeout, what="connect")

    async def subscribe(self, symbols: list[str], data_type: str) -> None:
        sock = self._require()
        await self._calls.call(
            lambda: sock.subscribe(symbols=symbols, data_type=data_type),
            limit=self._timeout + 0.5 * (1 + len(symbols) // 1500),
            what=f"subscribe({len(symbols)} {data_type})",
        )

    async def unsubscribe(self, symbols: list[str], data_type: str) -> None:
        sock = self._require()
        await self._calls.call(
            lambda: sock.unsubscribe(symbols=symbols, data_type=data_type),
            limit=self._timeout,
            what=f"unsubscribe({len(symbols)} {data_type})",
        )

    def _require(self) -> FeedSocket:
        if self._socket is None:
            raise UpstreamError("not_connected", "the socket was never opened")
        return self._socket

    async def close(self, grace: float = 3.0) -> None:
        """Tear the socket down on a thread of its own (the call thread may be wedged)."""
        self._calls.stop()
        sock, self._socket = self._socket, None
        if sock is None:
            return
        closer = CallThread(f"fyers-close-{self._generation}")
        try:
            await closer.call(lambda: sock.teardown(grace), limit=grace + 1, what="close")
        except UpstreamError:
            log.warning("upstream socket teardown overran; abandoning its threads")
        finally:
            closer.stop()
