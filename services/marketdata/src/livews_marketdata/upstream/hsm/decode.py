"""Server frames → the dicts fyers-apiv3 3.2.0 hands to ``on_message`` / ``on_error``.

:class:`Decoder` keeps the per-socket state the HSM protocol needs (topic id → topic, the last
raw values of each topic, the ack counter) and reproduces the SDK's observable behaviour,
including its edges, because the supervisor and the normalizer were built on it:

- a snapshot (83) sets a topic's whole state; a full update (85) changes the values that are
  not the null value ``-2147483648`` and yields a dict only if one changed; a lite update (76)
  changes the last price;
- prices are ``raw / (10**precision * multiplier)``; quotes get ``ch``/``chp`` (4 decimals,
  only with a non-zero previous close), indices get them with 2 decimals, ``lower_ckt`` and
  ``upper_ckt`` are always 0, ``OI``/``Yhigh``/``Ylow`` are not passed on;
- in lite mode every update is ``{ltp, symbol, type}``;
- a malformed entry ends the frame (entries before it count), as an exception inside the
  SDK's parser does; an update that cannot be formatted (a missing last price in lite mode,
  an index with a zero previous close) is dropped alone;
- every ``ack_count`` data frames the client acknowledges the last message number.

tests/test_hsm_oracle.py feeds the same frames to the SDK and to this class.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

NULL = -2147483648
QUOTE_FIELDS = (
    "ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size", "ask_size",
    "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty", "tot_sell_qty",
    "avg_trade_price", "OI", "low_price", "high_price", "Yhigh", "Ylow", "lower_ckt",
    "upper_ckt", "open_price", "prev_close_price", "type", "symbol",
)  # fmt: skip
INDEX_FIELDS = (
    "ltp", "prev_close_price", "exch_feed_time", "high_price", "low_price", "open_price",
    "type", "symbol",
)  # fmt: skip
DEPTH_FIELDS = tuple(
    [f"{side}_price{i}" for side in ("bid", "ask") for i in range(1, 6)]
    + [f"{side}_size{i}" for side in ("bid", "ask") for i in range(1, 6)]
    + [f"{side}_order{i}" for side in ("bid", "ask") for i in range(1, 6)]
    + ["type", "symbol"]
)
_QUOTE_SCALED = frozenset(
    ("ltp", "bid_price", "ask_price", "avg_trade_price", "low_price", "high_price",
     "open_price", "prev_close_price")
)  # fmt: skip
_INDEX_SCALED = frozenset(INDEX_FIELDS[i] for i in (0, 1, 3, 4, 5))
_DEPTH_SCALED = frozenset(DEPTH_FIELDS[:10])
_FIELDS = {"sf": QUOTE_FIELDS, "if": INDEX_FIELDS, "dp": DEPTH_FIELDS}
_REF_TYPES = {1: "cn", 4: "sub", 5: "unsub", 7: "cp", 8: "cr"}

_QUOTE_KEEP = frozenset(QUOTE_FIELDS) - {"OI", "Yhigh", "Ylow"}
_ALWAYS_ZERO = frozenset(("lower_ckt", "upper_ckt"))
_DEPTH_KEEP = frozenset(DEPTH_FIELDS)
_VALUES: dict[int, struct.Struct] = {n: struct.Struct(f">{n}i") for n in range(1, 41)}
_U16 = struct.Struct(">H")
_NATIVE_U16 = struct.Struct("=H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")


class _Malformed(Exception):
    pass


def _ok(kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "code": 200, "message": message, "s": "ok"}


def _error(kind: str | None, code: int, message: str) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "message": message, "s": "error"}
    if kind is not None:
        out = {"type": kind, **out}
    return out


class Decoder:
    """Decodes one socket's server frames (see the module docstring)."""

    def __init__(
        self,
        symbols: dict[str, str],
        *,
        lite: bool,
        on_message: Callable[[Any], None],  # data dicts (a Tick too, from a TickDecoder)
        on_error: Callable[[dict[str, Any]], None],
        send: Callable[[bytes], None],
        ack_frame: Callable[[int], bytes],
    ) -> None:
        self.symbols = symbols  # topic → symbol, kept by the client
        self.lite = lite
        self._on_message = on_message
        self._on_error = on_error
        self._send = send
        self._ack_frame = ack_frame
        self.ack_count = 0
        self._since_ack = 0
        # topic id → topic name per kind, and topic name → its last raw values (as the SDK
        # keeps them: a name's values are shared by every id that ever pointed at it).
        self._by_id: dict[str, dict[int, str]] = {"sf": {}, "if": {}, "dp": {}}
        self._raw: dict[str, dict[str, Any]] = {}
        # topic name → the last dict handed out for it (quotes and depth in full mode): an
        # update copies it and redoes only the changed keys; a snapshot rebuilds it.
        self._out: dict[str, dict[str, Any]] = {}
        self.unsubscribing: list[str] = []  # topics of the last unsubscribe, dropped on its ack

    def feed(self, data: bytes | str) -> None:
        """Decode one websocket message (text messages are ignored, as the SDK does)."""
        if not isinstance(data, bytes) or len(data) < 3:
            return
        kind = data[2]
        try:
            if kind == 6:
                self._data(data)
            elif kind == 1:
                self._auth(data)
            elif kind in (4, 5):
                self._subscription(data, kind)
            elif kind == 12:
                self._mode(data)
            elif kind in (7, 8):
                self._pause_resume(data, kind)
            elif kind == 51:
                self._custom(data)
        except Exception as exc:  # as the SDK: a frame it cannot parse ends there, nothing else
            log.debug("malformed upstream frame", extra={"frame_type": kind, "error": repr(exc)})

    # -- control replies ------------------------------------------------------------------

    def _string(self, data: bytes, offset: int) -> tuple[str, int]:
        size = _U16.unpack_from(data, offset)[0]
        return data[offset + 2 : offset + 2 + size].decode("utf-8"), offset + 2 + size

    def _auth(self, data: bytes) -> None:
        text, offset = self._string(data, 5)
        if text == "K":
            self._on_message(_ok("cn", "Authentication done"))
        else:
            self._on_error(_error("cn", 11001, "Authentication failed"))
        offset += 1
        _U16.unpack_from(data, offset)
        self.ack_count = _U32.unpack_from(data, offset + 2)[0]

    def _subscription(self, data: bytes, kind: int) -> None:
        _NATIVE_U16.unpack_from(data, 5)
        ok = data[7:8].decode("latin-1") == "K"
        if kind == 4:
            if ok:
                self._on_message(_ok("sub", "Subscribed"))
            else:
                self._on_error(_error("sub", 11011, "subscription failed"))
            return
        if not ok:
            self._on_error(_error("unsub", 11012, "unsubscription failed"))
            return
        self._on_message(_ok("unsub", "Unsubscribed"))
        for topic in self.unsubscribing:
            self.symbols.pop(topic, None)
        self.unsubscribing = []

    def _mode(self, data: bytes) -> None:
        if data[3] < 1:
            return
        text, _ = self._string(data, 5)
        if text != "K":
            self._on_error(_error(None, 12001, "Mode change failed"))
        elif self.lite:
            self._on_message(_ok("lit", "Lite Mode On"))
        else:
            self._on_message(_ok("ful", "Full Mode On"))

    def _pause_resume(self, data: bytes, kind: int) -> None:
        text, _ = self._string(data, 5)
        pause = kind == 7
        if text == "K":
            self._on_message(_ok("cp", "Channel Paused") if pause else _ok("cr", "Channel Resumed"))
        else:
            code = 11031 if pause else 11032
            self._on_error(_error("cp" if pause else "cr", code, "Mode change failed"))

    def _custom(self, data: bytes) -> None:
        if len(data) < 4:
            raise _Malformed("custom message shorter than its header")
        end = 2 + _U16.unpack_from(data, 0)[0]
        if end > len(data):
            raise _Malformed("custom message truncated")
        code, message, ref_type, offset = 0, "", 0, 4
        for _ in range(data[3]):
            if offset + 3 > end:
                raise _Malformed("custom message field header truncated")
            field_id, size = data[offset], _U16.unpack_from(data, offset + 1)[0]
            offset += 3
            if offset + size > end:
                raise _Malformed("custom message field truncated")
            value = data[offset : offset + size]
            offset += size
            if field_id == 1 and size == 4:
                code = _I32.unpack(value)[0]
            elif field_id == 2:
                message = value.decode("utf-8", errors="replace")
            elif field_id == 3 and size == 1:
                ref_type = value[0]
        self._on_error(
            {"type": _REF_TYPES.get(ref_type, "msg"), "code": code, "message": message,
             "s": "error"}
        )  # fmt: skip

    # -- data -----------------------------------------------------------------------------

    def _data(self, data: bytes) -> None:
        if self.ack_count > 0:
            self._since_ack += 1
            number = _U32.unpack_from(data, 3)[0]
            if self._since_ack == self.ack_count:
                self._send(self._ack_frame(number))
                self._since_ack = 0
        count = _U16.unpack_from(data, 7)[0]
        offset = 9
        for _ in range(count):
            entry = data[offset]
            if entry == 83:
                offset = self._snapshot(data, offset + 1)
            elif entry == 85:
                offset = self._update(data, offset + 1)
            elif entry == 76:
                offset = self._lite_update(data, offset + 1)

    def _snapshot(self, data: bytes, offset: int) -> int:
        topic_id = _NATIVE_U16.unpack_from(data, offset)[0]
        size = data[offset + 2]
        offset += 3
        name = data[offset : offset + size].decode("utf-8")
        offset += size
        kind = name[:2]
        fields = _FIELDS.get(kind)
        if fields is None:
            return offset  # the SDK skips nothing more either
        values: dict[str, Any] = {}
        self._by_id[kind][topic_id] = name
        self._raw[name] = values
        count = data[offset]
        offset += 1
        for index in range(count):
            value = _I32.unpack_from(data, offset)[0]
            offset += 4
            if value != NULL:
                values[fields[index]] = value
        offset += 2
        values["multiplier"] = _U16.unpack_from(data, offset)[0]
        values["precision"] = data[offset + 2]
        offset += 3
        for key in ("exchange", "exchange_token", "symbol"):
            size = data[offset]
            values[key] = data[offset + 1 : offset + 1 + size].decode("utf-8", errors="ignore")
            offset += 1 + size
        values["type"] = kind
        values["symbol"] = self.symbols[name]
        self._emit(kind, values, name)
        return offset

    def _find(self, topic_id: int, kinds: tuple[str, ...]) -> tuple[str, str] | None:
        for kind in kinds:
            name = self._by_id[kind].get(topic_id)
            if name is not None:
                return kind, name
        return None

    def _update(self, data: bytes, offset: int) -> int:
        topic_id = _NATIVE_U16.unpack_from(data, offset)[0]
        count = data[offset + 2]
        offset += 3
        found = self._find(topic_id, ("sf", "if", "dp"))
        changed = False
        if found is None:
            if offset + 4 * count > len(data):
                raise _Malformed("update truncated")
            return offset + 4 * count
        kind, name = found
        values = self._raw[name]
        fields = _FIELDS[kind]
        unpack = _VALUES.get(count)
        if unpack is not None and count <= len(fields) and offset + 4 * count <= len(data):
            # The common case in one call; anything odd takes the field-by-field path below,
            # which fails at the same field the SDK does.
            get = values.get
            changes = [
                (key, value)
                for key, value in zip(fields, unpack.unpack_from(data, offset), strict=False)
                if value != NULL and get(key) != value
            ]
            if changes:
                values.update(changes)
                last = self._out.get(name)
                if last is None:
                    self._emit(kind, values, name)
                else:
                    self._emit_changes(kind, values, name, last, changes)
            return offset + 4 * count
        for index in range(count):
            value = _I32.unpack_from(data, offset)[0]
            offset += 4
            if value != NULL:
                key = fields[index]
                if values.get(key, NULL) != value or key not in values:
                    values[key] = value
                    changed = True
            else:
                _ = fields[index]  # an index past the field list ends the frame
        if changed:
            self._emit(kind, values, name)
        return offset

    def _lite_update(self, data: bytes, offset: int) -> int:
        topic_id = _NATIVE_U16.unpack_from(data, offset)[0]
        offset += 2
        found = self._find(topic_id, ("sf", "if"))
        if found is None:
            return offset  # nothing read: the SDK does not skip the value either
        kind, name = found
        values = self._raw[name]
        value = _I32.unpack_from(data, offset)[0]
        offset += 4
        if value != values["ltp"] and value != NULL:
            values["ltp"] = value
            values["type"] = kind
            self._emit(kind, values, name)
        return offset

    # -- output ---------------------------------------------------------------------------

    def _emit(self, kind: str, values: dict[str, Any], name: str) -> None:
        try:
            message = self._format(kind, values)
        except (KeyError, ZeroDivisionError, TypeError) as exc:
            self._out.pop(name, None)
            log.debug("upstream update not usable", extra={"error": repr(exc)})
            return
        if kind != "if" and not self.lite:
            self._out[name] = message
        self._hand(kind, name, message)

    def _emit_changes(
        self,
        kind: str,
        raw: dict[str, Any],
        name: str,
        last: dict[str, Any],
        changes: list[tuple[str, int]],
    ) -> None:
        """What :meth:`_format` would give, from the last output and the changed values."""
        keys = [key for key, _ in changes]
        out = last.copy()  # the last one may still sit in the bridge: never changed in place
        scale = (10 ** raw["precision"]) * raw["multiplier"]
        if kind == "sf":
            for key in keys:
                if key in _QUOTE_KEEP and key not in _ALWAYS_ZERO:
                    out[key] = raw[key] / scale if key in _QUOTE_SCALED else raw[key]
            if "ltp" in keys or "prev_close_price" in keys:
                prev, ltp = out.get("prev_close_price"), out.get("ltp")
                if prev is not None and ltp is not None and prev != 0:
                    out["ch"] = ch = round(ltp - prev, 4)
                    out["chp"] = round(ch / prev * 100, 4)
                else:
                    out.pop("ch", None)
                    out.pop("chp", None)
        else:
            for key in keys:
                if key in _DEPTH_KEEP:
                    out[key] = raw[key] / scale if key in _DEPTH_SCALED else raw[key]
        self._out[name] = out
        self._hand(kind, name, out)

    def _hand(self, kind: str, name: str, message: dict[str, Any]) -> None:
        """Hand a data dict over (a subclass may hand something made from it instead)."""
        self._on_message(message)

    def _format(self, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
        if self.lite:
            ltp = raw["ltp"] / ((10 ** raw["precision"]) * raw["multiplier"])
            return {"ltp": ltp, "symbol": raw["symbol"], "type": raw["type"]}
        scale = (10 ** raw["precision"]) * raw["multiplier"]
        if kind == "dp":
            return {
                k: (v / scale if k in _DEPTH_SCALED else v)
                for k, v in raw.items()
                if k in _DEPTH_KEEP
            }
        if kind == "sf":
            out = {
                k: (v / scale if k in _QUOTE_SCALED else v)
                for k, v in raw.items()
                if k in _QUOTE_KEEP
            }
            out["lower_ckt"] = 0
            out["upper_ckt"] = 0
            prev, ltp = out.get("prev_close_price"), out.get("ltp")
            if prev is not None and ltp is not None and prev != 0:
                out["ch"] = ch = round(ltp - prev, 4)
                out["chp"] = round(ch / prev * 100, 4)
            return out
        return self._index(raw, scale)

    @staticmethod
    def _index(raw: dict[str, Any], scale: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in INDEX_FIELDS:
            if key in raw:
                out[key] = raw[key] / scale if key in _INDEX_SCALED else raw[key]
        if "prev_close_price" in out and "ltp" in out:
            out["ch"] = round(out["ltp"] - out["prev_close_price"], 2)
            out["chp"] = round(out["ch"] / out["prev_close_price"] * 100, 2)
        return out
