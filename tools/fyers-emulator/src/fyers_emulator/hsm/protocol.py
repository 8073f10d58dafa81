"""The HSM binary frame format, as fyers-apiv3 3.2.0 (FyersWebsocket/data_ws.py) speaks it.

Every frame: ``[length u16 BE][type u8]`` then, for most types, ``[field count u8]`` and fields
``[id u8][length u16 BE][value]``. The length counts the bytes after itself; a client's value
is not always right (the SDK's subscribe frame overstates it), so requests are parsed from
the websocket message itself. One websocket message carries one frame.

Data frames (type 6): ``[length][6][message number u32 BE][entry count u16 BE]`` then entries:

- 83 snapshot: ``[83][topic id][name length u8][name][value count u8][values i32 BE…]``
  ``[2 bytes unused][multiplier u16 BE][precision u8]`` and three ``[length u8][text]``
  strings (exchange, exchange token, symbol);
- 85 full update: ``[85][topic id][value count u8][values i32 BE…]``;
- 76 lite update: ``[76][topic id][last price i32 BE]``.

The SDK reads topic ids with ``struct.unpack("H", …)`` — native byte order — so they are
written in native order too; ids are unique per socket across quote, index and depth topics.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from fyers_emulator.market import MULTIPLIER, PRECISION

# Request (client → server) and response types.
AUTH, ACK, SUBSCRIBE, UNSUBSCRIBE, DATA, PAUSE, RESUME, PING, MODE = 1, 3, 4, 5, 6, 7, 8, 11, 12
CUSTOM = 51
MODE_FULL, MODE_LITE = 70, 76
SNAPSHOT, FULL_UPDATE, LITE_UPDATE = 83, 85, 76
#: Custom-message code for "over the plan's symbol limit" (the SDK's SYMBOL_LIMIT_EXCEEDED_CODE).
SYMBOL_LIMIT_CODE = 51001
#: Custom-message code for an expired token (the SDK's TOKEN_EXPIRED).
TOKEN_EXPIRED_CODE = -99

DATA_HEADER = struct.Struct(">HBIH")  # length, type 6, message number, entry count
MAX_FRAME_BYTES = 60_000  # keeps the u16 length field honest


class ProtocolError(ValueError):
    """A client frame that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Request:
    type: int
    fields: dict[int, bytes]


def parse_request(data: bytes) -> Request:
    """Split a client frame into its type and fields (the ping ``00 01 0b`` has none)."""
    if len(data) < 3:
        raise ProtocolError("frame shorter than its header")
    if len(data) == 3:
        return Request(data[2], {})
    fields: dict[int, bytes] = {}
    offset = 4
    for _ in range(data[3]):
        if offset + 3 > len(data):
            raise ProtocolError("truncated field header")
        field_id = data[offset]
        size = int.from_bytes(data[offset + 1 : offset + 3], "big")
        offset += 3
        if offset + size > len(data):
            raise ProtocolError("truncated field value")
        fields[field_id] = data[offset : offset + size]
        offset += size
    return Request(data[2], fields)


def parse_topics(value: bytes) -> list[str]:
    """A subscribe/unsubscribe field 1: ``[count u16 BE]`` then ``[length u8][topic]``."""
    if len(value) < 2:
        raise ProtocolError("topic list shorter than its count")
    count, offset, topics = int.from_bytes(value[:2], "big"), 2, []
    for _ in range(count):
        if offset >= len(value):
            raise ProtocolError("topic list ends early")
        size = value[offset]
        topic = value[offset + 1 : offset + 1 + size]
        if len(topic) != size:
            raise ProtocolError("topic ends early")
        topics.append(topic.decode("ascii", errors="replace"))
        offset += 1 + size
    return topics


def channels(value: bytes) -> set[int]:
    """The channel numbers set in a u64 bitmask field."""
    bits = int.from_bytes(value, "big")
    return {n for n in range(64) if bits >> n & 1}


def frame(frame_type: int, fields: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes([fid]) + len(v).to_bytes(2, "big") + v for fid, v in fields)
    total = 4 + len(body)
    return (total - 2).to_bytes(2, "big") + bytes([frame_type, len(fields)]) + body


def auth_reply(ok: bool, ack_count: int) -> bytes:
    return frame(AUTH, [(1, b"K" if ok else b"E"), (2, ack_count.to_bytes(4, "big"))])


def ok_reply(frame_type: int) -> bytes:
    """The "K" acknowledgement of a subscribe, unsubscribe, mode, pause or resume."""
    return frame(frame_type, [(1, b"K")])


def custom_message(code: int, message: str, ref_type: int) -> bytes:
    """Type 51: the SDK reports it through on_error with ``ref_type`` mapped to its type."""
    return frame(
        CUSTOM,
        [(1, code.to_bytes(4, "big", signed=True)), (2, message.encode()), (3, bytes([ref_type]))],
    )


def _short_string(text: str) -> bytes:
    raw = text.encode()[:255]
    return bytes([len(raw)]) + raw


class TopicCodec:
    """Pre-encoded pieces of one topic's entries; packing an update is one struct call."""

    __slots__ = ("_lite", "_lite_header", "_snap_prefix", "_snap_suffix", "_update", "_update_hdr",
                 "_values", "name", "topic_id")  # fmt: skip

    def __init__(
        self, topic_id: int, name: str, field_count: int, exchange: str, token: str, symbol: str
    ) -> None:
        self.topic_id, self.name = topic_id, name
        tid = struct.pack("=H", topic_id)
        self._snap_prefix = bytes([SNAPSHOT]) + tid + _short_string(name) + bytes([field_count])
        self._values = struct.Struct(f">{field_count}i")
        self._snap_suffix = (
            b"\x00\x00"
            + struct.pack(">HB", MULTIPLIER, PRECISION)
            + _short_string(exchange)
            + _short_string(token)
            + _short_string(symbol)
        )
        self._update = struct.Struct(f">I{field_count}i")
        self._update_hdr = int.from_bytes(bytes([FULL_UPDATE]) + tid + bytes([field_count]), "big")
        self._lite = struct.Struct(">3si")
        self._lite_header = bytes([LITE_UPDATE]) + tid

    def snapshot(self, values: tuple[int, ...]) -> bytes:
        return self._snap_prefix + self._values.pack(*values) + self._snap_suffix

    def update(self, values: tuple[int, ...]) -> bytes:
        return self._update.pack(self._update_hdr, *values)

    def lite(self, ltp: int) -> bytes:
        return self._lite.pack(self._lite_header, ltp)


def data_frames(first_msg_no: int, entries: list[bytes]) -> list[bytes]:
    """Pack ``entries`` into as few type-6 frames as fit ``MAX_FRAME_BYTES``."""
    frames: list[bytes] = []
    start, size, msg_no = 0, DATA_HEADER.size, first_msg_no
    for i, entry in enumerate(entries):
        if size + len(entry) > MAX_FRAME_BYTES and i > start:
            frames.append(_data_frame(msg_no, entries[start:i], size))
            msg_no, start, size = msg_no + 1, i, DATA_HEADER.size
        size += len(entry)
    if start < len(entries):
        frames.append(_data_frame(msg_no, entries[start:], size))
    return frames


def _data_frame(msg_no: int, entries: list[bytes], size: int) -> bytes:
    header = DATA_HEADER.pack(size - 2, DATA, msg_no & 0xFFFFFFFF, len(entries))
    return header + b"".join(entries)


def garbage(rng: random.Random, count: int) -> list[bytes | str]:
    """Malformed frames the SDK must survive: truncations, unknown types, a text frame.

    None of them can parse as a valid update, so they never corrupt a client's state.
    """
    kinds: list[bytes | str] = [
        b"",  # empty message
        bytes([0x00, 0x40, 99]) + rng.randbytes(12),  # unknown frame type
        DATA_HEADER.pack(60, DATA, 0, 3) + bytes([FULL_UPDATE]),  # data frame cut short
        (4000).to_bytes(2, "big") + bytes([AUTH, 2]),  # auth reply without its fields
        (40).to_bytes(2, "big") + bytes([CUSTOM, 3, 1, 0]),  # custom message cut short
        "not a binary frame",  # a text message on a binary protocol
    ]
    return [kinds[i % len(kinds)] for i in range(count)]
