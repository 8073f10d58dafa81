"""In-process checks of the pieces: wire format against the SDK's own encoders and decoders,
the market's invariants and reproducibility, tokens and HSM keys, the universe."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from fyers_emulator.errors import InvalidToken, TokenExpired
from fyers_emulator.hsm import protocol
from fyers_emulator.market import (
    ASK,
    BID,
    HIGH,
    LOW,
    LTP,
    NO_VALUE,
    OI,
    VOL,
    Market,
)  # fmt: skip
from fyers_emulator.settings import ConfigError, Settings
from fyers_emulator.tokens import TokenService
from fyers_emulator.universe import (
    DEFAULT_WATCHLIST,
    INDEX_HSM_MAP,
    INSTRUMENTS,
    NIFTY50_CONSTITUENTS,
    SEGMENTS,
    SYMBOLS,
)  # fmt: skip


@pytest.fixture(scope="module")
def sdk_socket(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The SDK's socket object, used only for its frame builders (it never connects)."""
    from fyers_apiv3.FyersWebsocket.data_ws import FyersDataSocket

    log_dir = tmp_path_factory.mktemp("sdk")
    return FyersDataSocket(access_token="APP-100:a.b.c", log_path=str(log_dir), reconnect=False)


def test_requests_built_by_the_sdk_parse(sdk_socket: Any) -> None:
    topics = ["sf|nse_cm|3045", "if|nse_cm|Nifty 50", "dp|nse_fo|52168"]
    sub = protocol.parse_request(bytes(sdk_socket._FyersDataSocket__subscription_msg(topics)))
    assert sub.type == protocol.SUBSCRIBE and protocol.parse_topics(sub.fields[1]) == topics
    assert sub.fields[2] == bytes([11])
    unsub = protocol.parse_request(bytes(sdk_socket._FyersDataSocket__unsubscription_msg(topics)))
    assert unsub.type == protocol.UNSUBSCRIBE and protocol.parse_topics(unsub.fields[1]) == topics
    sdk_socket._FyersDataSocket__hsm_token = "abc123"
    auth = protocol.parse_request(bytes(sdk_socket._FyersDataSocket__access_token_msg()))
    assert auth.type == protocol.AUTH and auth.fields[1] == b"abc123" and auth.fields[2] == b"P"
    lite = protocol.parse_request(bytes(sdk_socket._FyersDataSocket__lite_mode_msg()))
    assert lite.type == protocol.MODE and lite.fields[2] == bytes([protocol.MODE_LITE])
    assert protocol.channels(lite.fields[1]) == {11}
    ack = protocol.parse_request(bytes(sdk_socket._FyersDataSocket__ackowledgement_msg(7)))
    assert ack.type == protocol.ACK and int.from_bytes(ack.fields[1], "big") == 7
    assert protocol.parse_request(bytes([0, 1, 11])).type == protocol.PING


@pytest.mark.parametrize(
    "raw", [b"", b"\x00", b"\x00\x05\x04\x02\x01\x00", b"\x00\x05\x04\x01\x01"]
)
def test_malformed_requests_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_request(raw)


def test_custom_message_parses_with_the_sdk() -> None:
    from fyers_apiv3.FyersWebsocket.data_ws import parse_custom_message

    raw = protocol.custom_message(-99, "Token is expired", protocol.AUTH)
    assert parse_custom_message(raw) == {"code": -99, "message": "Token is expired", "ref_type": 1}


def test_data_frames_respect_the_size_limit() -> None:
    entries = [bytes(88)] * 2000
    frames = protocol.data_frames(41, entries)
    assert all(len(f) <= protocol.MAX_FRAME_BYTES for f in frames)
    assert sum(struct.unpack_from(">H", f, 7)[0] for f in frames) == 2000
    assert [struct.unpack_from(">I", f, 3)[0] for f in frames] == list(range(41, 41 + len(frames)))
    for f in frames:
        assert struct.unpack_from(">H", f, 0)[0] == len(f) - 2 and f[2] == protocol.DATA


def test_market_is_reproducible_and_consistent() -> None:
    a, b = Market(INSTRUMENTS, seed=7, clock=lambda: 1e9), Market(INSTRUMENTS, 7, lambda: 1e9)
    everything = set(range(len(INSTRUMENTS)))
    ticks_a = a.step(5000, 1_000_000_000, everything)
    assert ticks_a == b.step(5000, 1_000_000_000, everything)
    assert ticks_a != Market(INSTRUMENTS, 8, lambda: 1e9).step(5000, 1_000_000_000, everything)
    last_volume: dict[int, int] = {}
    for idx, values, depth in ticks_a:
        inst = INSTRUMENTS[idx]
        if inst.kind == "index":
            assert depth is None and values[4] <= values[0] <= values[3]
            continue
        assert values[LOW] <= values[LTP] <= values[HIGH]
        assert values[BID] <= values[LTP] <= values[ASK] and values[BID] < values[ASK]
        assert values[VOL] > last_volume.get(idx, 0)
        last_volume[idx] = values[VOL]
        assert (values[OI] == NO_VALUE) == (inst.kind == "equity")
        assert depth is not None and depth[0] == values[BID] and depth[5] == values[ASK]
        assert all(v > 0 for v in depth)


def test_tokens_and_hsm_keys(tmp_path: Path) -> None:
    now = [1_000_000.0]
    tokens = TokenService(Settings(access_ttl=60), clock=lambda: now[0])
    token = tokens.issue_access_token("XA00001")
    grant = tokens.verify_access_token(token)
    assert grant.fy_id == "XA00001" and grant.exp == 1_000_060
    from jwt import decode

    key = decode(token, options={"verify_signature": False})["hsm_key"]
    assert tokens.verify_hsm_key(key).exp == grant.exp
    for bad in ("", "zz", key[:-2] + ("00" if key[-2:] != "00" else "11"), "ab" * 28):
        with pytest.raises(InvalidToken):
            tokens.verify_hsm_key(bad)
    refresh = tokens.issue_refresh_token("XA00001")
    now[0] += 1
    tokens.expire_access_tokens()
    with pytest.raises(TokenExpired):
        tokens.verify_access_token(token)
    with pytest.raises(TokenExpired):
        tokens.verify_hsm_key(key)
    assert tokens.verify_refresh_token(refresh) == "XA00001"
    fresh = tokens.issue_access_token("XA00001")  # same millisecond as the cutoff: still valid
    assert tokens.verify_access_token(fresh).fy_id == "XA00001"
    now[0] += 120
    with pytest.raises(TokenExpired):
        tokens.verify_access_token(fresh)


def test_universe_shape() -> None:
    assert len(NIFTY50_CONSTITUENTS) == 50 and len(set(NIFTY50_CONSTITUENTS)) == 50
    assert DEFAULT_WATCHLIST[-2:] == ["NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX"]
    assert len(DEFAULT_WATCHLIST) == 52 and set(DEFAULT_WATCHLIST) <= set(SYMBOLS)
    assert len(set(SYMBOLS)) == len(SYMBOLS) and "BSE:SENSEX-INDEX" in SYMBOLS
    topics = [i.quote_topic for i in INSTRUMENTS] + [i.depth_topic for i in INSTRUMENTS]
    assert len({t for t in topics if t}) == len([t for t in topics if t])
    for inst in INSTRUMENTS:
        assert inst.fytoken[:4] in SEGMENTS and inst.fytoken[10:] == inst.exchange_token
    assert set(INDEX_HSM_MAP) == {i.symbol for i in INSTRUMENTS if i.kind == "index"}
    # Names from older NIFTY 50 compositions still resolve.
    assert {"NSE:HEROMOTOCO-EQ", "NSE:INDUSINDBK-EQ", "NSE:TATAMOTORS-EQ"} <= set(SYMBOLS)


def test_settings_from_env_and_files(tmp_path: Path) -> None:
    defaults = Settings.from_env({})
    assert defaults.client_id == "DEVAPP0001-100"
    assert (defaults.secret_key, defaults.pin) == ("devsecret", "1234")
    assert defaults.redirect_uri is None and defaults.ticks_per_second == 200.0
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    s = Settings.from_env({"FYERS_SECRET_KEY_FILE": str(secret), "FYERS_CLIENT_ID": "ABC123-100",
                           "EMULATOR_TICKS_PER_SECOND": "1000", "EMULATOR_BATCH_MS": "20",
                           "LIVEWS_ENV": "prod"})  # fmt: skip
    assert s.secret_key == "s3cr3t-value" and s.app_id == "ABC123"
    assert s.ticks_per_second == 1000.0 and s.batch_interval == 0.02
    for env in ({"LIVEWS_ENV": "prod"}, {"EMULATOR_SEED": "x"}, {"FYERS_CLIENT_ID": "NOSUFFIX"},
                {"FYERS_PIN_FILE": str(tmp_path / "missing")}):  # fmt: skip
        with pytest.raises(ConfigError):
            Settings.from_env(env)
