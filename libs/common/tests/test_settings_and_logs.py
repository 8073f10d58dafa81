"""Prod refuses placeholder secrets; logs never carry one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from livews_common.feedtoken import FeedToken, load_token_cipher
from livews_common.logs import DevFormatter, JsonFormatter, redact
from livews_common.settings import ConfigError, read_secret, require_secret

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJYWTEyMzQ1In0.c2lnbmF0dXJlX2J5dGVz"


@pytest.mark.parametrize("value", [None, "", "  ", "changeme", "CHANGEME", "<your-secret>"])
def test_prod_refuses_placeholders_naming_the_variable(value: str | None) -> None:
    with pytest.raises(ConfigError, match="FYERS_SECRET_KEY"):
        require_secret("FYERS_SECRET_KEY", value, "prod")
    require_secret("FYERS_SECRET_KEY", value, "dev")  # dev runs on generated defaults


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("real-value\n")
    assert read_secret("X", {"X_FILE": str(tmp_path / "s")}) == "real-value"
    with pytest.raises(ConfigError, match="X_FILE"):
        read_secret("X", {"X_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    "text",
    [
        f"token={JWT}",
        f"Authorization: DEVAPP0001-100:{JWT}",
        "exchanging auth_code=abc123def456 now",
        'refresh_token": "opaque-refresh-value-1234"',
        "pin=1234",
        "DEVAPP0001-100:abcdefghijklmnopqrstuvwxyz",
    ],
)
def test_redaction(text: str) -> None:
    cleaned = redact(text)
    for secret in (JWT, "abc123def456", "opaque-refresh-value-1234", "=1234",
                   "abcdefghijklmnopqrstuvwxyz"):  # fmt: skip
        assert secret not in cleaned


def test_formatters_redact_message_and_extra_fields() -> None:
    fields = {"msg": "got %s", "args": (JWT,), "levelname": "INFO", "name": "t"}
    record = logging.makeLogRecord({**fields, "access_token": "x" * 20, "symbols": 52})
    for formatter in (JsonFormatter("test"), DevFormatter()):
        out = formatter.format(record)
        assert JWT not in out and "x" * 20 not in out and "52" in out


def test_token_cipher_round_trip_and_dev_key_is_persisted(tmp_path: Path) -> None:
    cipher = load_token_cipher("dev", tmp_path)
    feed = FeedToken(access_token="APP-100:tok", account="XY12345", expires_at=1, issued_at=2)
    sealed = cipher.seal(feed)
    assert b"tok" not in sealed
    assert load_token_cipher("dev", tmp_path).open(sealed) == feed
    with pytest.raises(ValueError, match="token key"):
        load_token_cipher("dev", tmp_path / "other").open(sealed)


def test_no_ansi_colour_field_in_any_format() -> None:
    # uvicorn passes a copy of its message with ANSI escapes as extra={"color_message": …}.
    record = logging.makeLogRecord(
        {"msg": "Started server process", "color_message": "\x1b[36mStarted\x1b[0m", "port": 1}
    )
    line = JsonFormatter("auth").format(record)
    assert "color_message" not in line and "\\u001b" not in line and '"port":1' in line
    assert "color_message" not in DevFormatter().format(record)
