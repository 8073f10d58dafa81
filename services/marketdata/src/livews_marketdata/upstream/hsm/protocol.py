"""HSM request frames and topic names, as fyers-apiv3 3.2.0 builds them.

Frames are ``[length u16 BE][type u8][field count u8]`` then fields ``[id u8][length u16 BE]
[value]``. Three quirks are kept on purpose, so that what we send is byte-identical to the
SDK (the oracle test checks it): the mode frame declares length 0; subscribe and unsubscribe
declare ``18 + topics + len(access token) + len(source)`` rather than their real length; the
auth frame identifies itself with the SDK's source string.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SOURCE = "PythonSDK-3.2.0"
CHANNEL = 11
MODE_FULL, MODE_LITE = 70, 76
#: The app-level ping (type 11, no fields) the SDK sends every 10 s.
PING = bytes([0, 1, 11])
PING_INTERVAL = 10.0
#: Topics per subscribe/unsubscribe frame (the SDK's chunk).
TOPICS_PER_FRAME = 1500
QUOTES = "SymbolUpdate"
DEPTH = "DepthUpdate"
#: fytoken[:4] → HSM segment (the SDK's map.json ``exch_seg_dict``).
SEGMENTS: Mapping[str, str] = {
    "1010": "nse_cm", "1011": "nse_fo", "1120": "mcx_fo", "1210": "bse_cm",
    "1012": "cde_fo", "1211": "bse_fo", "1212": "bcs_fo", "1020": "nse_com",
}  # fmt: skip

_H = struct.Struct(">H")


class TokenProblem(ValueError):
    """The access token cannot give an HSM key: ``expired`` says which case."""

    def __init__(self, expired: bool) -> None:
        super().__init__("Token is expired" if expired else "Please provide valid token")
        self.expired = expired


def hsm_key(access_token: str, now: float | None = None) -> str:
    """The ``hsm_key`` claim of the access token's JWT (not verified; the server does that).

    Like the SDK: the payload is only base64-decoded, and an ``exp`` in the past is refused
    before any connection is made.
    """
    try:
        _, payload, _ = access_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "==="))
        exp, key = claims["exp"], claims["hsm_key"]
        expired = exp - int(time.time() if now is None else now) < 0
    except (ValueError, KeyError, TypeError):
        raise TokenProblem(expired=False) from None
    if expired:
        raise TokenProblem(expired=True)
    if not isinstance(key, str):
        raise TokenProblem(expired=False)
    return key


def _field(field_id: int, value: bytes) -> bytes:
    return bytes([field_id]) + _H.pack(len(value)) + value


def auth_frame(key: str, source: str = SOURCE) -> bytes:
    fields = _field(1, key.encode()) + _field(2, b"P") + _field(3, b"\x01")
    fields += _field(4, source.encode())
    return _H.pack(16 + len(key) + len(source)) + bytes([1, 4]) + fields


def mode_frame(lite: bool, channel: int = CHANNEL) -> bytes:
    bits = struct.pack(">Q", 1 << channel)
    mode = bytes([MODE_LITE if lite else MODE_FULL])
    return _H.pack(0) + bytes([12, 2]) + _field(1, bits) + _field(2, mode)


def _topics_frame(
    kind: int, topics: list[str], access_token: str, source: str, channel: int
) -> bytes:
    body = bytearray(_H.pack(len(topics)))
    for topic in topics:
        raw = topic.encode("ascii")
        body.append(len(raw))
        body += raw
    declared = 18 + len(body) + len(access_token) + len(source)
    fields = _field(1, bytes(body)) + _field(2, bytes([channel]))
    return _H.pack(declared) + bytes([kind, 2]) + fields


def subscribe_frames(
    topics: list[str], access_token: str, source: str = SOURCE, channel: int = CHANNEL
) -> list[bytes]:
    return [
        _topics_frame(4, topics[i : i + TOPICS_PER_FRAME], access_token, source, channel)
        for i in range(0, len(topics), TOPICS_PER_FRAME)
    ]


def unsubscribe_frames(
    topics: list[str], access_token: str, source: str = SOURCE, channel: int = CHANNEL
) -> list[bytes]:
    return [
        _topics_frame(5, topics[i : i + TOPICS_PER_FRAME], access_token, source, channel)
        for i in range(0, len(topics), TOPICS_PER_FRAME)
    ]


def ack_frame(message_number: int) -> bytes:
    return _H.pack(9) + bytes([3, 1, 1]) + _H.pack(4) + struct.pack(">I", message_number)


@dataclass(frozen=True)
class Topics:
    """Symbols turned into HSM topics for one data type."""

    topics: dict[str, str]  # topic → symbol, in the order given
    skipped_index_depth: bool  # an index was asked for depth (it has none)


def to_topics(
    fytokens: Iterable[tuple[str, str]],
    data_type: str,
    index_map: Mapping[str, str],
    fallback_index_map: Mapping[str, str] | None = None,
) -> Topics:
    """``(symbol, fytoken)`` pairs → topics, the way the SDK's ``SymbolConversion`` does it.

    The segment is ``fytoken[:4]`` (unknown segments are skipped, as the SDK does); quotes
    and depth use the exchange token ``fytoken[10:]``; an index (``…-INDEX``) uses its HSM
    name from the index map, else the bundled one, else the symbol's own name.
    """
    out: dict[str, str] = {}
    skipped = False
    fallback = fallback_index_map or {}
    for symbol, fytoken in fytokens:
        segment = SEGMENTS.get(fytoken[:4])
        if segment is None:
            continue
        parts = symbol.split("-")
        named_index = parts[-1] == "INDEX"
        if named_index and len(parts) > 1 and data_type != DEPTH:
            name = index_map.get(symbol) or fallback.get(symbol)
            if not name:
                name = symbol.split(":")[-1].split("-")[0]
            out[f"if|{segment}|{name}"] = symbol
        elif data_type == DEPTH and not named_index:
            out[f"dp|{segment}|{fytoken[10:]}"] = symbol
        elif data_type == QUOTES:
            out[f"sf|{segment}|{fytoken[10:]}"] = symbol
        elif data_type == DEPTH:
            skipped = True
    return Topics(out, skipped)
