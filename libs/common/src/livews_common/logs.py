"""Logging setup for entry points: JSON lines in prod, readable lines in dev, secrets redacted.

Modules only call ``logging.getLogger(__name__)``; only ``__main__`` calls
:func:`configure_logging`. Redaction is a last line of defence — code must not log secrets
in the first place — and covers JWTs, ``APPID:TOKEN`` pairs, the password in a URL's
``user:password@`` (a Redis URL), and values of keys that name a secret (token, secret, pin,
code, password, cookie, authorization).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

REDACTED = "[redacted]"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_APP_TOKEN = re.compile(r"\b([A-Z0-9]{6,}-\d{3}):[A-Za-z0-9._-]{12,}")
# scheme://user:password@host — the password part (Redis URLs carry the ACL user's).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)")
_SECRET_WORDS = r"token|secret|password|passwd|auth_code|authorization|cookie|appidhash|api_key"
_SECRET_KV = re.compile(
    rf"(?i)\b([\w-]*(?:{_SECRET_WORDS})[\w-]*|pin)(\"?\s*[=:]\s*\"?)([^\s\"&,;}}]+)"
)
_SECRET_KEY_NAMES = re.compile(rf"(?i)(?:{_SECRET_WORDS})|(?:^|_)pin$")

# ``color_message`` is uvicorn's copy of the message with ANSI escapes: never a field.
_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "color_message"
}  # fmt: skip

#: What ``LIVEWS_LOG_FORMAT`` accepts.
LOG_FORMATS = ("json", "text")


def is_secret_name(name: str) -> bool:
    """True when a field or variable name says it holds a secret (token, password, pin…)."""
    return bool(_SECRET_KEY_NAMES.search(name))


def redact(text: str) -> str:
    """``text`` with JWTs, ``APPID:TOKEN`` pairs and ``secret=value`` values masked."""
    text = _JWT.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text = _APP_TOKEN.sub(lambda m: f"{m.group(1)}:{REDACTED}", text)
    return _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _clean(key: str, value: Any) -> Any:
    if is_secret_name(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(repr(value))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: _clean(k, v) for k, v in vars(record).items() if k not in _STD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields become top-level keys."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created * 1000),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        doc.update(_extras(record))
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(doc, default=str).decode()


class DevFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value …`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {redact(record.getMessage())}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def configure_logging(service: str, *, json: bool, level: str = "INFO") -> None:
    """Route the root logger to stderr in the chosen format. Call once, from ``main``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json else DevFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that log request lines or payloads at INFO would put tokens in URLs on disk.
    for noisy in ("httpx", "httpcore", "websocket", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
