"""Everything that bends uvicorn, python-engineio or python-socketio, in one place.

The gateway's fast path and its inbound defences need more than these libraries'
public APIs offer. Every touch of their internals lives in this subpackage:

* ``wsprotocol.py`` — subclasses uvicorn's ``WebSocketsSansIOProtocol`` (and uses the
  websockets ``ServerProtocol`` it holds): write buffer limits, direct frame writes,
  the inbound checks (binary, budget), closing a connection from the transport, and a
  lighter connection (slots; ``inbox.py``'s queue and event; handshake data let go);
* ``outlets.py`` — writes into that protocol, or onto python-engineio's socket queue
  (long-polling);
* ``engine.py`` — subclasses python-socketio's ``AsyncServer`` (its ``_handle_eio_*``,
  ``_handle_connect``, ``_engineio_server_class``, ``environ``, ``manager``) and
  python-engineio's ``AsyncServer`` (``send_packet``, ``sockets``, ``shutdown``); drops an
  authorized websocket session's handshake headers;
* ``eiosocket.py`` — subclasses python-engineio's ``AsyncSocket`` for websocket sessions
  with an outlet: no writer, receive or ping task, no queue once drained, and one ping
  sweeper for all of them (issue #17);
* ``server.py`` — subclasses ``uvicorn.Server`` for the drain on SIGTERM.

``versions.py`` bounds the three libraries (as pyproject.toml does) and is checked at
start-up; tests/test_transport_internals.py names each internal relied upon, so an
upgrade that moves one fails with one readable assertion.
"""
