"""The emulator's configuration, read from environment variables (see docs/emulator.md)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from livews_common.logs import LOG_FORMATS
from livews_common.settings import LOG_LEVELS
from livews_common.settings import ConfigError as CommonConfigError

DEV_CLIENT_ID = "DEVAPP0001-100"
DEV_SECRET_KEY = "devsecret"
DEV_PIN = "1234"

_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "placeholder", DEV_SECRET_KEY})


class ConfigError(CommonConfigError):
    """A setting that cannot work; the message names the variable."""


def _choice(env: Mapping[str, str], name: str, default: str, accepted: tuple[str, ...]) -> str:
    raw = (env.get(name) or default).strip()
    if raw.lower() not in {a.lower() for a in accepted}:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(accepted)}")
    return raw.lower()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _value(env: Mapping[str, str], name: str) -> str | None:
    """``$name``, else the contents of the file named by ``$name_FILE`` (Docker/K8s secrets)."""
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path} cannot be read: {exc.strerror}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the emulator needs; build with ``Settings.from_env()`` or directly in tests."""

    client_id: str = DEV_CLIENT_ID
    secret_key: str = DEV_SECRET_KEY
    redirect_uri: str | None = None  # when set, generate-authcode requires exactly this
    pin: str = DEV_PIN
    signing_key: str = ""  # seeds the HS256 key of the tokens it issues (see token_key)
    seed: int = 42
    ticks_per_second: float = 200.0  # aggregate over all instruments
    batch_interval: float = 0.01  # seconds between market steps (updates are batched per step)
    access_ttl: int = 86_400
    refresh_ttl: int = 15 * 86_400
    auth_code_ttl: int = 300
    ack_count: int = 50  # the SDK acks every ack_count data frames; 0 turns acks off
    symbol_limit: int = 5000  # topics per data socket; beyond it: custom message 51001
    send_queue: int = 512  # data frames queued per socket before new ones are dropped
    log_level: str = "info"
    env: str = "dev"  # LIVEWS_ENV
    log_format: str | None = None  # LIVEWS_LOG_FORMAT; None: json in prod, text in dev

    @property
    def json_logs(self) -> bool:
        return self.env == "prod" if self.log_format is None else self.log_format == "json"

    def items(self) -> list[tuple[str, object]]:
        """``(VARIABLE, value)`` pairs for ``--check-config``."""
        return [
            ("FYERS_CLIENT_ID", self.client_id), ("FYERS_SECRET_KEY", self.secret_key),
            ("FYERS_REDIRECT_URI", self.redirect_uri), ("FYERS_PIN", self.pin),
            ("EMULATOR_SIGNING_KEY", self.signing_key or None), ("EMULATOR_SEED", self.seed),
            ("EMULATOR_TICKS_PER_SECOND", self.ticks_per_second),
            ("EMULATOR_BATCH_MS", self.batch_interval * 1000),
            ("EMULATOR_ACCESS_TTL", self.access_ttl), ("EMULATOR_REFRESH_TTL", self.refresh_ttl),
            ("EMULATOR_AUTH_CODE_TTL", self.auth_code_ttl), ("EMULATOR_ACK_COUNT", self.ack_count),
            ("FYERS_EMULATOR_SOCKET_SYMBOLS", self.symbol_limit),
            ("EMULATOR_SEND_QUEUE", self.send_queue), ("EMULATOR_LOG_LEVEL", self.log_level),
            ("LIVEWS_ENV", self.env), ("LIVEWS_LOG_FORMAT", self.log_format),
        ]  # fmt: skip

    @property
    def app_id(self) -> str:
        """The client id without its ``-100`` app-type suffix."""
        return self.client_id.rsplit("-", 1)[0]

    @property
    def app_id_hash(self) -> str:
        """sha256 hex of ``client_id:secret_key``, what validate-authcode expects."""
        return hashlib.sha256(f"{self.client_id}:{self.secret_key}".encode()).hexdigest()

    @property
    def token_key(self) -> bytes:
        """The HS256 key: sha256 of EMULATOR_SIGNING_KEY, or of the app secret if unset."""
        if self.signing_key:
            return hashlib.sha256(self.signing_key.encode()).digest()
        return hashlib.sha256(f"fyers-emulator:{self.secret_key}".encode()).digest()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``FYERS_*`` and ``EMULATOR_*`` variables (defaults are dev values).

        Each of FYERS_CLIENT_ID, FYERS_SECRET_KEY, FYERS_REDIRECT_URI, FYERS_PIN and
        EMULATOR_SIGNING_KEY may instead name a file in ``<NAME>_FILE``.
        """
        env = os.environ if environ is None else environ
        settings = cls(
            client_id=_value(env, "FYERS_CLIENT_ID") or DEV_CLIENT_ID,
            secret_key=_value(env, "FYERS_SECRET_KEY") or DEV_SECRET_KEY,
            redirect_uri=_value(env, "FYERS_REDIRECT_URI"),
            pin=_value(env, "FYERS_PIN") or DEV_PIN,
            signing_key=_value(env, "EMULATOR_SIGNING_KEY") or "",
            seed=_int(env, "EMULATOR_SEED", 42),
            ticks_per_second=_float(env, "EMULATOR_TICKS_PER_SECOND", 200.0),
            batch_interval=_float(env, "EMULATOR_BATCH_MS", 10.0, minimum=1.0) / 1000.0,
            access_ttl=_int(env, "EMULATOR_ACCESS_TTL", 86_400, minimum=1),
            refresh_ttl=_int(env, "EMULATOR_REFRESH_TTL", 15 * 86_400, minimum=1),
            auth_code_ttl=_int(env, "EMULATOR_AUTH_CODE_TTL", 300, minimum=1),
            ack_count=_int(env, "EMULATOR_ACK_COUNT", 50),
            # Topics per data socket: FYERS_EMULATOR_SOCKET_SYMBOLS (CONTRACT §5 v1.1), or the
            # older EMULATOR_SYMBOL_LIMIT.
            symbol_limit=_int(
                env,
                "FYERS_EMULATOR_SOCKET_SYMBOLS",
                _int(env, "EMULATOR_SYMBOL_LIMIT", 5000, minimum=1),
                minimum=1,
            ),
            send_queue=_int(env, "EMULATOR_SEND_QUEUE", 512, minimum=1),
            log_level=_choice(env, "EMULATOR_LOG_LEVEL", "info", LOG_LEVELS),
            env=_choice(env, "LIVEWS_ENV", "dev", ("dev", "prod")),
            log_format=_choice(env, "LIVEWS_LOG_FORMAT", "json", LOG_FORMATS)
            if (env.get("LIVEWS_LOG_FORMAT") or "").strip()
            else None,
        )
        if settings.env == "prod" and settings.secret_key in _PLACEHOLDERS:
            raise ConfigError(
                "FYERS_SECRET_KEY is missing or a placeholder; LIVEWS_ENV=prod refuses to start"
            )
        if "-" not in settings.client_id:
            raise ConfigError(f"FYERS_CLIENT_ID={settings.client_id!r} lacks its -100 suffix")
        return settings
