"""The websocket endpoint at /hsm/v1-5/prod: reads client frames and answers them.

Auth (type 1) checks the HSM key on every connection: a refused auth gets a non-"K" auth
reply, an expired token gets custom message -99 (ref type 1); both then close the socket.
Subscribe/unsubscribe (4/5), mode (12), pause/resume (7/8) get "K" replies; acks (3) and the
app-level ping (11) get nothing. A subscribe past the symbol limit gets custom message 51001.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket

from fyers_emulator.errors import EmulatorError, TokenExpired
from fyers_emulator.hsm import protocol
from fyers_emulator.hsm.feed import CLOSE_POLICY
from fyers_emulator.hsm.session import Session
from fyers_emulator.runtime import Runtime, runtime

log = logging.getLogger(__name__)

NOT_AUTHENTICATED_CODE = 11001


async def hsm_endpoint(ws: WebSocket) -> None:
    """Serve one data socket until either side closes it."""
    rt = runtime(ws)
    await ws.accept()
    session = Session(ws, rt.settings.send_queue)
    rt.feed.add(session)
    rt.metrics.socket_connects.inc()
    writer = asyncio.create_task(session.write_loop(), name="hsm-writer")
    reader = asyncio.create_task(_read_loop(rt, session), name="hsm-reader")
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        rt.feed.remove(session)
        session.closing = True
        for task in (reader, writer):
            task.cancel()
        # A peer that vanished mid-send is the peer's problem: note it, don't raise it.
        for result in await asyncio.gather(reader, writer, return_exceptions=True):
            if isinstance(result, Exception):
                log.debug("data socket ended: %r", result)


async def _read_loop(rt: Runtime, session: Session) -> None:
    while True:
        message = await session.ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            rt.metrics.bad_frames.inc()  # text on a binary protocol
            continue
        try:
            request = protocol.parse_request(data)
        except protocol.ProtocolError:
            rt.metrics.bad_frames.inc()
            continue
        handle(rt, session, request)


def handle(rt: Runtime, session: Session, request: protocol.Request) -> None:
    """Apply one client request to ``session`` and queue the reply."""
    kind, fields = request.type, request.fields
    if kind == protocol.AUTH:
        _authenticate(rt, session, fields.get(1, b"").decode("ascii", errors="replace"))
    elif kind == protocol.MODE:
        mode = fields.get(2, bytes([protocol.MODE_FULL]))
        session.lite = mode[:1] == bytes([protocol.MODE_LITE])
        session.send_control(protocol.ok_reply(protocol.MODE))
    elif kind in (protocol.SUBSCRIBE, protocol.UNSUBSCRIBE):
        _subscription(rt, session, request)
    elif kind in (protocol.PAUSE, protocol.RESUME):
        chans = protocol.channels(fields.get(1, b""))
        if kind == protocol.PAUSE:
            session.paused |= chans
        else:
            session.paused -= chans
        session.refresh_live()
        session.send_control(protocol.ok_reply(kind))
    elif kind == protocol.ACK:
        rt.metrics.acks.inc()
    elif kind != protocol.PING:
        rt.metrics.bad_frames.inc()


def _authenticate(rt: Runtime, session: Session, hsm_key: str) -> None:
    if rt.faults.refuse_socket_auth:
        rt.metrics.socket_auth.labels("refused").inc()
        session.send_control(protocol.auth_reply(False, 0))
        session.close(CLOSE_POLICY, "authentication refused", flush=True)
        return
    try:
        session.grant = rt.tokens.verify_hsm_key(hsm_key)
    except TokenExpired:
        rt.metrics.socket_auth.labels("expired").inc()
        session.send_control(
            protocol.custom_message(protocol.TOKEN_EXPIRED_CODE, "Token is expired", protocol.AUTH)
        )
        session.close(CLOSE_POLICY, "token expired", flush=True)
        return
    except EmulatorError:
        rt.metrics.socket_auth.labels("invalid").inc()
        session.send_control(protocol.auth_reply(False, 0))
        session.close(CLOSE_POLICY, "authentication failed", flush=True)
        return
    rt.metrics.socket_auth.labels("ok").inc()
    session.send_control(protocol.auth_reply(True, rt.settings.ack_count))


def _subscription(rt: Runtime, session: Session, request: protocol.Request) -> None:
    ref = request.type
    if not session.authenticated:
        session.send_control(
            protocol.custom_message(NOT_AUTHENTICATED_CODE, "Please authenticate first", ref)
        )
        return
    try:
        topics = protocol.parse_topics(request.fields.get(1, b""))
    except protocol.ProtocolError:
        rt.metrics.bad_frames.inc()
        session.send_control(protocol.custom_message(-300, "Malformed topic list", ref))
        return
    if ref == protocol.UNSUBSCRIBE:
        rt.feed.unsubscribe(session, topics)
        session.send_control(protocol.ok_reply(ref))
        return
    limit = rt.settings.symbol_limit
    if rt.feed.new_topic_count(session, topics) > limit:
        message = f"Symbol limit exceeded: this plan allows {limit} symbols per connection"
        session.send_control(protocol.custom_message(protocol.SYMBOL_LIMIT_CODE, message, ref))
        return
    channel_field = request.fields.get(2, b"")
    channel = channel_field[0] if channel_field else 11
    session.send_control(protocol.ok_reply(ref))
    rt.feed.subscribe(session, topics, channel)
