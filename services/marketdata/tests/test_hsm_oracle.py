"""The SDK is the reference: our HSM client must decode and send exactly what fyers-apiv3 does.

Frames come from the emulator (data in full and lite mode, quotes, indices and depth, and each
fault: garbage, drop, expired token, refused auth, the symbol limit), recorded by our client
while it runs against it. The same frames then go through the SDK's own parser
(``FyersDataSocket.__response_msg``) and through a fresh :class:`Decoder`: every dict handed to
``on_message``/``on_error`` and every ack frame must be equal. What our client sent (auth,
mode, subscribe, unsubscribe, ping) must equal, byte for byte, what the SDK builds for the same
operations, and our topic names must equal the SDK's own symbol-token conversion. So neither
the emulator nor the client can drift into agreeing with each other instead of with Fyers.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fyers_apiv3.FyersWebsocket import data_ws

from livews_common.models import Tick
from livews_devtools.fleet_marketdata import emulator_access_token
from livews_devtools.pytest_plugin import Emulator, Spawn, start_emulator
from livews_marketdata.normalize import Normalizer
from livews_marketdata.resolve import SymbolResolver
from livews_marketdata.upstream import sdk
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.hsm import protocol
from livews_marketdata.upstream.hsm.client import HsmConnection
from livews_marketdata.upstream.hsm.decode import Decoder
from livews_marketdata.upstream.hsm.protocol import DEPTH, QUOTES
from livews_marketdata.upstream.hsm.ticks import TickDecoder

QUOTE_SYMBOLS = ["NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:TCS-EQ", "NSE:NIFTY50-INDEX",
                 "NSE:NIFTYBANK-INDEX"]  # fmt: skip
DEPTH_SYMBOLS = ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ"]
LIMIT = 9  # the emulator's topics per socket in this test


class Recorded:
    """What one live connection of our client received and sent."""

    def __init__(self, conn: HsmConnection) -> None:
        self.conn = conn
        self.received: list[bytes | str] = []
        self.symbols: dict[str, str] = {}  # every topic ever subscribed → symbol
        self.unsubscribed: list[str] = []
        feed = conn.decoder.feed

        def recording_feed(data: bytes | str) -> None:
            self.received.append(data)
            feed(data)

        conn.decoder.feed = recording_feed  # type: ignore[method-assign]
        conn.record_sent = True


@pytest.fixture
def limited(spawn: Spawn, tmp_path: Any) -> Emulator:
    return start_emulator(spawn, tmp_path, EMULATOR_SYMBOL_LIMIT=str(LIMIT), EMULATOR_ACK_COUNT="5",
                          EMULATOR_TICKS_PER_SECOND="400")  # fmt: skip


@pytest.fixture
def configured(limited: Emulator) -> Iterator[None]:
    mapping = httpx.get(f"{limited.url}/sym_details/index_hsm_mapping.json", timeout=5).json()
    sdk.configure(token_url=f"{limited.data_base}/symbol-token", index_map=mapping,
                  rest_timeout=5, connect_timeout=5, log_dir=None)  # fmt: skip
    yield


async def _session(
    emulator: Emulator, token: str, *, lite: bool, script: Any, http: httpx.AsyncClient
) -> Recorded:
    bridge = Bridge(asyncio.get_running_loop())
    gen = bridge.new_generation()
    resolver = SymbolResolver(http, f"{emulator.data_base}/symbol-token")
    bare = token.split(":", 1)[1]
    mapping = (await http.get(f"{emulator.url}/sym_details/index_hsm_mapping.json")).json()

    async def fytokens(symbols: Any) -> Any:
        return await resolver.fytokens_for(symbols, bare)

    conn = HsmConnection(url=emulator.ws_url, access_token=token, bridge=bridge, generation=gen,
                         fytokens=fytokens, index_map=mapping, lite=lite)  # fmt: skip
    rec = Recorded(conn)
    await conn.open()
    try:
        await script(conn, rec, bridge)
    finally:
        await conn.close()
    return rec


async def _until_closed(bridge: Bridge, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while (await bridge.control.get()).kind != "close":
            pass


def _sdk_socket(token: str, lite: bool, out: list[tuple[str, Any]]) -> Any:
    sock = sdk.FeedSocket(access_token=token, url="ws://unused", log_path=sdk._SETUP.log_path,
                          on_message=lambda m: out.append(("message", m)),
                          on_error=lambda e: out.append(("error", e)), on_close=print)  # fmt: skip
    sock.lite = lite
    sock.channel_num = sock.active_channel = 11
    sock.running_channels = {11}
    return sock


def _replay_sdk(rec: Recorded, token: str, lite: bool) -> tuple[list[Any], list[bytes]]:
    out: list[tuple[str, Any]] = []
    sock = _sdk_socket(token, lite, out)
    sock.symbol_token = dict(rec.symbols)
    sock.scrips_per_channel[11] = list(rec.symbols)
    sock.unsub_symbol = list(rec.unsubscribed)
    for frame in rec.received:
        sock._FyersDataSocket__response_msg(frame)
    return out, [bytes(m) for m in sock.message]


def _replay_ours(rec: Recorded, lite: bool) -> tuple[list[Any], list[bytes]]:
    out: list[tuple[str, Any]] = []
    sent: list[bytes] = []
    decoder = Decoder(dict(rec.symbols), lite=lite, on_message=lambda m: out.append(("message", m)),
                      on_error=lambda e: out.append(("error", e)), send=sent.append,
                      ack_frame=protocol.ack_frame)  # fmt: skip
    decoder.unsubscribing = list(rec.unsubscribed)
    for frame in rec.received:
        decoder.feed(frame)
    return out, sent


def _sdk_frames(token: str, rec: Recorded, lite: bool) -> list[bytes]:
    """What the SDK builds for the operations our client performed, in the same order."""
    sock = _sdk_socket(token, lite, [])
    assert sock.access_token_to_hsmtoken()
    frames = [bytes(sock._FyersDataSocket__access_token_msg())]
    build = sock._FyersDataSocket__lite_mode_msg if lite else sock._FyersDataSocket__full_mode_msg
    frames.append(bytes(build()))
    for frame in rec.conn.sent[2:]:
        if frame == protocol.PING:
            frames.append(frame)
            continue
        if frame[2] == 3:  # an ack our client sent while reading
            number = int.from_bytes(frame[7:11], "big")
            frames.append(bytes(sock._FyersDataSocket__ackowledgement_msg(number)))
            continue
        topics = protocol_topics(frame)
        if frame[2] == 4:
            frames.append(bytes(sock._FyersDataSocket__subscription_msg(topics)))
        else:
            frames.append(bytes(sock._FyersDataSocket__unsubscription_msg(topics)))
    return frames


def protocol_topics(frame: bytes) -> list[str]:
    count, offset, topics = int.from_bytes(frame[7:9], "big"), 9, []
    for _ in range(count):
        size = frame[offset]
        topics.append(frame[offset + 1 : offset + 1 + size].decode())
        offset += 1 + size
    return topics


def _normalized(rec: Recorded, lite: bool, decoder: type[Decoder]) -> tuple[Any, ...]:
    """The frames through ``decoder`` and the normalizer: ticks, depth, counts, drops."""
    items: list[tuple[int, Any]] = []
    dec = decoder(dict(rec.symbols), lite=lite, on_message=lambda m: items.append((1, m)),
                  on_error=lambda e: None, send=lambda b: None,
                  ack_frame=protocol.ack_frame)  # fmt: skip
    dec.unsubscribing = list(rec.unsubscribed)
    for frame in rec.received:
        dec.feed(frame)
    made = sum(isinstance(m, Tick) for _, m in items)
    known = set(rec.symbols.values()) - {"NSE:TCS-EQ"}  # one symbol as if not subscribed
    normalizer = Normalizer()
    ticks, depth = normalizer.normalize(items, known, known)
    return ticks, depth, *normalizer.take_counts(), made


def _assert_same(rec: Recorded, token: str, lite: bool) -> dict[str, int]:
    theirs, their_acks = _replay_sdk(rec, token, lite)
    ours, our_acks = _replay_ours(rec, lite)
    assert ours == theirs
    assert our_acks == their_acks
    # The client's TickDecoder makes quote and index Ticks itself: the same as the
    # normalizer's of the SDK's dicts (values, counts and drops); in full mode every quote
    # comes out as a Tick, and index updates (not their snapshots) too.
    plain, fused = _normalized(rec, lite, Decoder), _normalized(rec, lite, TickDecoder)
    assert fused[:4] == plain[:4]
    assert plain[4] == 0
    sf = sum(1 for where, m in theirs if where == "message" and m.get("type") == "sf")
    index = sum(1 for where, m in theirs if where == "message" and m.get("type") == "if")
    assert fused[4] == 0 if lite else sf <= fused[4] <= sf + index
    assert rec.conn.sent == _sdk_frames(token, rec, lite)
    kinds: dict[str, int] = {}
    for where, item in theirs:
        key = item.get("type", "?") if isinstance(item, dict) else type(item).__name__
        kinds[f"{where}:{key}"] = kinds.get(f"{where}:{key}", 0) + 1
    return kinds


def _sdk_topics(token: str, symbols: list[str], data_type: str) -> dict[str, str]:
    conv = sdk._SymbolConversion(token, data_type, sdk._SETUP.log_path)
    topics, _, _, _ = conv.symbol_to_hsmtoken(symbols)
    return dict(topics)


async def _wait_data(bridge: Bridge, kinds: set[str], seconds: float = 10) -> None:
    seen: set[str] = set()
    async with asyncio.timeout(seconds):
        while not kinds <= seen:
            for _, raw in await bridge.take():
                if isinstance(raw, Tick):  # a quote the client's TickDecoder made
                    seen.add("sf" if raw.kind == "quote" else "if")
                elif isinstance(raw, dict):
                    seen.add(raw["type"])


@pytest.mark.parametrize("lite", [False, True], ids=["full", "lite"])
async def test_frames_decode_and_requests_match_the_sdk(
    limited: Emulator, configured: None, lite: bool
) -> None:
    token = emulator_access_token(limited)

    async def script(conn: HsmConnection, rec: Recorded, bridge: Bridge) -> None:
        await conn.subscribe(QUOTE_SYMBOLS, QUOTES)
        await conn.subscribe([*DEPTH_SYMBOLS, "NSE:NIFTY50-INDEX"], DEPTH)
        rec.symbols.update(conn.symbols)
        # Our topic names are the SDK's own conversion, in the same order.
        assert list(conn.symbols)[:5] == list(_sdk_topics(token, QUOTE_SYMBOLS, QUOTES))
        assert list(conn.symbols)[5:] == list(_sdk_topics(token, DEPTH_SYMBOLS, DEPTH))
        await _wait_data(bridge, {"sf", "if"} if lite else {"sf", "if", "dp"})
        limited.admin("garbage", count=12)
        await asyncio.sleep(0.5)
        # Past the emulator's per-socket limit: custom message 51001.
        await conn.subscribe(["NSE:HDFCBANK-EQ", "NSE:ITC-EQ", "NSE:WIPRO-EQ"], QUOTES)
        rec.symbols.update(conn.symbols)
        await conn.unsubscribe(["NSE:INFY-EQ"], QUOTES)
        rec.unsubscribed = [
            t for t, s in rec.symbols.items() if s == "NSE:INFY-EQ" and t[:2] == "sf"
        ]
        await asyncio.sleep(1.0)
        limited.admin("expire-tokens")
        await _until_closed(bridge)

    async with httpx.AsyncClient(timeout=5) as http:
        rec = await _session(limited, token, lite=lite, script=script, http=http)
    kinds = _assert_same(rec, token, lite)
    print(f"\nORACLE lite={lite} frames={len(rec.received)} sent={len(rec.conn.sent)} {kinds}")
    assert kinds.get("message:sf", 0) > 10 and kinds.get("message:if", 0) > 0
    if not lite:
        assert kinds.get("message:dp", 0) > 0
    assert kinds.get("error:sub", 0) >= 1  # the symbol limit (51001)
    assert kinds.get("error:cn", 0) == 1  # the expired token (-99)
    assert any(isinstance(f, str) for f in rec.received)  # garbage reached both parsers


async def test_refused_auth_and_drop_match_the_sdk(limited: Emulator, configured: None) -> None:
    token = emulator_access_token(limited)

    async def dropped(conn: HsmConnection, rec: Recorded, bridge: Bridge) -> None:
        await conn.subscribe(["NSE:SBIN-EQ"], QUOTES)
        rec.symbols.update(conn.symbols)
        await _wait_data(bridge, {"sf"})
        limited.admin("drop")
        await _until_closed(bridge)

    async def refused(conn: HsmConnection, rec: Recorded, bridge: Bridge) -> None:
        await _until_closed(bridge)

    async with httpx.AsyncClient(timeout=5) as http:
        rec = await _session(limited, token, lite=False, script=dropped, http=http)
        kinds = _assert_same(rec, token, False)
        assert kinds.get("message:sf", 0) > 0
        limited.admin("refuse-auth", on=True, scope="socket")
        rec = await _session(limited, token, lite=False, script=refused, http=http)
        kinds = _assert_same(rec, token, False)
        assert kinds == {"error:cn": 1}, kinds
    print(f"\nORACLE refused-auth {kinds}")


def test_ping_is_the_sdks() -> None:
    source = inspect.getsource(data_ws.FyersDataSocket._FyersDataSocket__ping)
    assert "bytes([0, 1, 11])" in source
    assert protocol.PING == bytes([0, 1, 11])


async def test_expired_and_unreadable_tokens_are_reported_like_the_sdk(
    limited: Emulator, configured: None
) -> None:
    def jwt(claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"APP-100:eyJhbGciOiJIUzI1NiJ9.{body}.sig"

    bridge = Bridge(asyncio.get_running_loop())
    for token in (jwt({"exp": 1, "hsm_key": "k"}), "APP-100:not-a-jwt"):
        theirs: list[tuple[str, Any]] = []
        assert not _sdk_socket(token, False, theirs).access_token_to_hsmtoken()
        gen = bridge.new_generation()
        conn = HsmConnection(url=limited.ws_url, access_token=token, bridge=bridge,
                             generation=gen, fytokens=_no_lookup, index_map={})  # fmt: skip
        await conn.open()  # reports, opens nothing
        event = await asyncio.wait_for(bridge.control.get(), 5)
        assert [(event.kind, event.payload)] == theirs
        assert bridge.control.empty()
        await conn.close()


async def _no_lookup(symbols: Any) -> dict[str, str]:
    raise AssertionError("no lookup expected")
