"""Socket.IO frames as bytes, built without decoding what Redis gave us.

A frame here is one whole Engine.IO text packet: ``4`` (MESSAGE) + ``2`` (Socket.IO EVENT)
+ ``["event", payload]`` for the default namespace. Ticks and depth updates are forwarded
as the JSON bytes the ingestor published: a batch is those bytes joined with commas, so
each tick is encoded once however many clients receive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()

TICKS = "ticks"
DEPTH = "depth"
BARS = "bars"
SNAPSHOT = "snapshot"
STATUS = "status"
BYE = "bye"
AUTH_EXPIRING = "auth:expiring"

_PREFIX = b'42["'


def event_frame(event: str, payload: Any) -> bytes:
    """The frame for ``emit(event, payload)``; ``payload`` is any JSON-able value."""
    return _PREFIX + event.encode() + b'",' + _encoder.encode(payload) + b"]"


def batch_frame(event: str, items: Sequence[bytes]) -> bytes:
    """The frame for ``emit(event, [item, …])`` where each item is already JSON bytes."""
    return _PREFIX + event.encode() + b'",[' + b",".join(items) + b"]]"


def snapshot_frame(key: str, items: Sequence[bytes]) -> bytes:
    """``emit("snapshot", {key: [item, …]})`` with pre-encoded items (``key`` = ticks/depth)."""
    return _PREFIX + b'snapshot",{"' + key.encode() + b'":[' + b",".join(items) + b"]}]"
