"""Encoder of the compact tick encoding (docs/compact-encoding.md; decoder: livews_common.compact).

Rows are built from the ingestor's Tick JSON once per message, not per client: an
:class:`~livews_gateway.clients.Entry` caches its key row and its delta row (against the
message its room relayed before it), and every compact client that holds that previous
message receives the same delta bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from livews_common.compact import FIELDS, scale_of

_encoder = msgspec.json.Encoder()
_decode = msgspec.json.decode


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _exact(value: Any, scale: int) -> bool:
    """``value`` is a whole number of 1/``scale`` units (so an integer delta restores it)."""
    if isinstance(value, int):
        return True
    return bool(round(value * scale) / scale == value) if scale != 1 else value.is_integer()


def key_row(tick: dict[str, Any]) -> list[Any]:
    return [tick.get("symbol"), tick.get("seq"), *(tick.get(f) for f in FIELDS)]


def delta_row(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    mask = 0
    values: list[Any] = []
    for i, field in enumerate(FIELDS):
        was: Any = old.get(field)
        now: Any = new.get(field)
        if now == was and type(now) is type(was):
            continue
        mask |= 1 << i
        if now is None or isinstance(now, str):
            values.append(now)
            continue
        scale = scale_of(field)
        if _number(now) and _number(was) and _exact(now, scale) and _exact(was, scale):
            values.append(round(now * scale) - round(was * scale))
        else:
            values.append([now])
    return [new.get("symbol"), new.get("seq"), mask, *values]


def key_bytes(data: bytes) -> bytes:
    """The key row of a Tick JSON (already checked by the fanout), as JSON bytes."""
    return _encoder.encode(key_row(_decode(data)))


def delta_bytes(previous: bytes, data: bytes) -> bytes:
    """The delta row turning ``previous`` (a Tick JSON) into ``data``, as JSON bytes."""
    return _encoder.encode(delta_row(_decode(previous), _decode(data)))
