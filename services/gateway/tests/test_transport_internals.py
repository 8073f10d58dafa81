"""Every internal of uvicorn, python-engineio and python-socketio that transport/ relies on.

One assertion per internal, naming the library, its installed version and what changed,
so that an upgrade outside transport/versions.py's ranges fails here readably (and the
start-up check refuses it in production). When one fails: adapt transport/, then widen
the range in transport/versions.py and services/gateway/pyproject.toml together.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version
from typing import Any

import engineio
import pytest
import socketio
import uvicorn
from engineio import async_socket as eio_socket
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as asgi_driver
from socketio import packet as sio_packet
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.server import ServerState
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from livews_gateway.transport.engine import GatewaySocketIO
from livews_gateway.transport.versions import (
    SUPPORTED,
    UnsupportedVersion,
    check_versions,
    supported_range,
)
from livews_gateway.transport.wsprotocol import UVICORN_ATTRIBUTES, protocol_class

#: (library, owner, method, parameter names after self) for every method overridden or called.
METHODS: list[tuple[str, Any, str, list[str]]] = [
    # transport/wsprotocol.py
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "connection_made", ["transport"]),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "pause_writing", []),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "resume_writing", []),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "handle_connect", ["event"]),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "handle_bytes", ["event"]),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "handle_cont", ["event"]),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "send_receive_event_to_app", []),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "send", ["message"]),
    ("uvicorn", websockets_sansio_impl.WebSocketsSansIOProtocol, "handle_text", ["event"]),
    (
        "uvicorn",
        websockets_sansio_impl.WebSocketsSansIOProtocol,
        "__init__",
        ["config", "server_state", "app_state"],
    ),
    # transport/server.py
    ("uvicorn", uvicorn.Server, "handle_exit", ["sig", "frame"]),
    ("uvicorn", uvicorn.Server, "serve", ["sockets"]),
    # transport/engine.py
    ("python-engineio", engineio.AsyncServer, "send_packet", ["sid", "pkt"]),
    ("python-engineio", engineio.AsyncServer, "disconnect", ["sid"]),
    ("python-engineio", engineio.AsyncServer, "shutdown", []),
    ("python-engineio", eio_socket.AsyncSocket, "close", ["wait", "abort", "reason"]),
    # transport/eiosocket.py
    ("python-engineio", eio_socket.AsyncSocket, "send", ["pkt"]),
    ("python-engineio", eio_socket.AsyncSocket, "receive", ["pkt"]),
    ("python-engineio", eio_socket.AsyncSocket, "schedule_ping", []),
    ("python-engineio", eio_socket.AsyncSocket, "check_ping_timeout", []),
    ("python-engineio", eio_socket.AsyncSocket, "_websocket_handler", ["ws"]),
    ("python-engineio", asgi_driver.WebSocket, "wait", []),
    ("python-engineio", asgi_driver.WebSocket, "close", []),
    ("python-socketio", socketio.AsyncServer, "_engineio_server_class", []),
    ("python-socketio", socketio.AsyncServer, "_handle_eio_connect", ["eio_sid", "environ"]),
    ("python-socketio", socketio.AsyncServer, "_handle_eio_message", ["eio_sid", "data"]),
    ("python-socketio", socketio.AsyncServer, "_handle_eio_disconnect", ["eio_sid", "reason"]),
    ("python-socketio", socketio.AsyncServer, "_handle_connect", ["eio_sid", "namespace", "data"]),
]


def _where(lib: str) -> str:
    return f"{lib} {version(lib)} (supported {supported_range(lib)})"


@pytest.mark.parametrize(
    ("lib", "owner", "name", "params"),
    METHODS,
    ids=[f"{owner.__name__}.{name}" for _lib, owner, name, _p in METHODS],
)
def test_method_is_there_with_the_expected_signature(
    lib: str, owner: Any, name: str, params: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert method is not None, f"{_where(lib)}: {owner.__qualname__}.{name} is gone"
    found = list(inspect.signature(method).parameters)[1:]
    assert found[: len(params)] == params, (
        f"{_where(lib)}: {owner.__qualname__}.{name} now takes {found}, transport/ calls it "
        f"with {params}"
    )


def _protocol(cls: Any = websockets_sansio_impl.WebSocketsSansIOProtocol) -> Any:
    """A protocol object of ``cls`` as uvicorn builds one for each connection."""
    config = uvicorn.Config(app=lambda scope, receive, send: None, ws="websockets-sansio")
    config.load()
    loop = asyncio.new_event_loop()
    try:
        return cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    finally:
        loop.close()


def test_uvicorn_protocol_state_that_wsprotocol_reads_and_writes() -> None:
    proto = _protocol()
    for attribute in (
        "conn", "transport", "loop", "frames", "curr_msg_data_type", "close_sent",
        "disconnected", "handshake_complete", "queue", "close_timer",
    ):  # fmt: skip
        assert hasattr(proto, attribute), f"{_where('uvicorn')}: protocol has no {attribute!r}"
    assert isinstance(proto.conn, ServerProtocol), f"{_where('uvicorn')}: conn is not sans-I/O"
    for method in ("send_text", "send_close", "data_to_send", "fail", "receive_data"):
        assert callable(getattr(proto.conn, method, None)), f"websockets: no {method}()"
    assert proto.frames == [] and proto.curr_msg_data_type in ("text", "bytes"), (
        f"{_where('uvicorn')}: the incoming-message state changed shape"
    )
    assert "websocket.http.response" in inspect.getsource(
        websockets_sansio_impl.WebSocketsSansIOProtocol.handle_connect
    ), f"{_where('uvicorn')}: handle_connect no longer builds the scope with extensions"
    # wsprotocol.send drops the handshake request/response after the accept: uvicorn must
    # only read them in handle_connect and when sending the accept.
    source = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol)
    assert "self.request = event" in source and source.count("self.request") == 1, (
        f"{_where('uvicorn')}: the protocol now reads its handshake request after the accept"
    )
    connect_source = inspect.getsource(
        websockets_sansio_impl.WebSocketsSansIOProtocol.handle_connect
    )
    send_source = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol.send)
    assert source.count("self.response") == connect_source.count(
        "self.response"
    ) + send_source.count("self.response"), (
        f"{_where('uvicorn')}: the protocol reads its handshake response outside the accept"
    )
    # hang_up (wsprotocol.py) relies on handle_close ending the connection on the peer's
    # echo of our close frame when close_timer is set, as uvicorn's own websocket.close does.
    handle_close = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol.handle_close)
    assert "close_timer" in handle_close and "transport.close()" in handle_close, (
        f"{_where('uvicorn')}: handle_close no longer completes a server-initiated close"
    )


def test_uvicorn_server_state_that_the_drain_reads() -> None:
    server = uvicorn.Server(uvicorn.Config(app=lambda scope, receive, send: None))
    for attribute in ("started", "should_exit"):
        assert hasattr(server, attribute), f"{_where('uvicorn')}: Server has no {attribute!r}"


async def test_socketio_wires_engineio_events_to_the_overridden_handlers() -> None:
    sio = GatewaySocketIO(async_mode="asgi")
    eio = sio.eio
    assert type(eio).__name__ == "GatewayEngineIO", (
        f"{_where('python-socketio')}: _engineio_server_class() is no longer used"
    )
    for event, handler in (
        ("connect", sio._handle_eio_connect),
        ("message", sio._handle_eio_message),
        ("disconnect", sio._handle_eio_disconnect),
    ):
        assert eio.handlers.get(event) == handler, (
            f"{_where('python-socketio')}: Engine.IO {event!r} is not routed to "
            f"_handle_eio_{event} any more"
        )
    assert isinstance(eio.sockets, dict), f"{_where('python-engineio')}: no sockets dict"
    assert isinstance(sio.environ, dict), f"{_where('python-socketio')}: no environ dict"
    for method in ("sid_from_eio_sid", "eio_sid_from_sid"):
        assert callable(getattr(sio.manager, method, None)), (
            f"{_where('python-socketio')}: manager.{method} is gone"
        )


def test_engineio_socket_and_packet_internals() -> None:
    init = inspect.getsource(engineio.base_socket.BaseSocket.__init__)
    for attribute in ("self.queue", "self.closed", "self.closing"):
        assert attribute in init, f"{_where('python-engineio')}: socket has no {attribute}"
    assert callable(getattr(eio_socket.AsyncSocket, "close", None))
    # hang_up (engine.py) ends a socket's queue with None: its writer/poll then stop.
    poll = inspect.getsource(eio_socket.AsyncSocket.poll)
    assert "[None]" in poll, f"{_where('python-engineio')}: poll() no longer stops on None"
    assert engineio.AsyncServer.reason.SERVER_DISCONNECT, f"{_where('python-engineio')}: reason"
    pkt = eio_packet.Packet(eio_packet.MESSAGE, "2[]")
    assert eio_packet.MESSAGE == 4 and pkt.binary is False and pkt.encode() == "42[]", (
        f"{_where('python-engineio')}: Packet(MESSAGE, text) no longer encodes as '4' + text"
    )
    binary = eio_packet.Packet(encoded_packet="bAAE=")
    assert binary.binary, f"{_where('python-engineio')}: 'b' no longer marks base64 binary"


def test_socketio_packet_types_the_inbound_check_refuses() -> None:
    assert (sio_packet.DISCONNECT, sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) == (1, 5, 6), (
        f"{_where('python-socketio')}: packet type numbers changed"
    )


def test_installed_versions_are_supported_and_others_refused_by_name() -> None:
    check_versions()  # what runs at start-up
    for dist in SUPPORTED:
        installed = {d: version(d) for d in SUPPORTED}
        installed[dist] = "99.0"
        with pytest.raises(UnsupportedVersion) as refused:
            check_versions(installed)
        assert dist in str(refused.value) and supported_range(dist) in str(refused.value)
    with pytest.raises(UnsupportedVersion, match="python-socketio is not installed"):
        check_versions({"uvicorn": "0.40.0", "python-engineio": "4.12.0"})


def test_engineio_websocket_session_internals_that_eiosocket_relies_on() -> None:
    # eiosocket.make_direct swaps the class of the socket python-engineio just created, from
    # python-socketio's connect handler: that must run after the OPEN packet was queued and
    # before the first ping is scheduled and the websocket handler starts.
    connect = inspect.getsource(engineio.AsyncServer._handle_connect)
    created = connect.find("async_socket.AsyncSocket(self, sid)")
    event = connect.find("_trigger_event('connect'")
    ping = connect.find("s.schedule_ping()")
    handler = connect.find("s.handle_get_request(environ)")
    assert -1 < created < event < ping < handler, (
        f"{_where('python-engineio')}: _handle_connect no longer creates an AsyncSocket, "
        "triggers 'connect', schedules the ping and runs the websocket in that order"
    )
    init = inspect.getsource(engineio.base_socket.BaseSocket.__init__)
    for attribute in ("self.last_ping", "self.connected", "self.upgraded"):
        assert attribute in init, f"{_where('python-engineio')}: socket has no {attribute}"
    call = inspect.getsource(asgi_driver.WebSocket.__call__)
    assert call.find("websocket.accept") < call.find("self.handler(self)"), (
        f"{_where('python-engineio')}: the ASGI WebSocket no longer accepts before its handler"
    )
    translate = inspect.getsource(asgi_driver.translate_request)
    assert "'wsgi.input'" in translate, f"{_where('python-engineio')}: environ has no wsgi.input"
    assert "ping_interval + self.server.ping_timeout" in inspect.getsource(
        eio_socket.AsyncSocket._websocket_handler
    ), f"{_where('python-engineio')}: the websocket receive timeout changed"


def test_what_the_lighter_idle_connection_relies_on() -> None:
    """Issue #17: slots for uvicorn's attributes, its queue and event replaced, data let go."""
    plain, ours = _protocol(), _protocol(protocol_class(buffer_bytes=1024))
    # Every attribute uvicorn sets is a slot of ours: nothing lands in an instance dict.
    missing = set(vars(plain)) - set(UVICORN_ATTRIBUTES)
    assert not missing, f"{_where('uvicorn')}: new protocol attributes {sorted(missing)}"
    assert not vars(ours), f"{_where('uvicorn')}: our protocol has a dict: {vars(ours)}"
    # uvicorn uses its receive queue and writable event through these methods only (inbox.py).
    source = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol)
    used = {m for m in ("put_nowait", "get", "empty", "get_nowait", "task_done", "join")
            if f"self.queue.{m}(" in source}  # fmt: skip
    assert used == {"put_nowait", "get", "empty"}, f"{_where('uvicorn')}: queue use {used}"
    used = {m for m in ("wait", "set", "clear", "is_set") if f"self.writable.{m}(" in source}
    assert used <= {"wait", "set", "clear"}, f"{_where('uvicorn')}: writable use {used}"
    # handle_connect copies the request headers into the scope; wsprotocol then empties them.
    connect = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol.handle_connect)
    assert "event.headers.raw_items()" in connect, f"{_where('uvicorn')}: headers not copied"
    # The websockets request and frame are plain (not frozen) dataclasses.
    request = Request("/", Headers())
    request.headers = Headers()
    frame = Frame(Opcode.TEXT, b"x")
    frame.data = b""
    # python-engineio: the ping timeout's close reason, which ends a direct session's socket.
    assert engineio.AsyncServer.reason.PING_TIMEOUT, f"{_where('python-engineio')}: reason"
    check = inspect.getsource(eio_socket.AsyncSocket.check_ping_timeout)
    assert "PING_TIMEOUT" in check, f"{_where('python-engineio')}: ping timeout reason changed"
