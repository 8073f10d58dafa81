"""Base settings every service extends (12-factor: environment variables only).

Secrets are read from an environment variable or from a file named by ``<NAME>_FILE``
(the Docker/Kubernetes secrets convention). With ``LIVEWS_ENV=prod`` a missing, empty or
placeholder secret stops the process at start with a message naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from livews_common.claims import DEFAULT_LEEWAY

Env = Literal["dev", "prod"]
LogFormat = Literal["json", "text"]

#: What ``LIVEWS_LOG_LEVEL`` accepts (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "placeholder", "todo",
     "xxx", "example", "dummy", "test", "default", "none", "null"}
)  # fmt: skip


class ConfigError(RuntimeError):
    """Configuration that cannot run; the message names the variable and what to do."""


def is_placeholder(value: str | None) -> bool:
    """True for a missing, empty or obviously placeholder secret value."""
    if value is None:
        return True
    stripped = value.strip().lower()
    return not stripped or stripped in PLACEHOLDERS or stripped.startswith(("<", "your-", "your_"))


def read_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """The value of secret ``name`` from ``$name`` or the file named by ``$name_FILE``."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path} cannot be read: {exc.strerror}") from None
    return None


def require_secret(name: str, value: str | None, env: Env) -> None:
    """In prod, refuse a missing, empty or placeholder value for secret ``name``."""
    if env == "prod" and is_placeholder(value):
        raise ConfigError(
            f"{name} is missing or a placeholder; set {name} or {name}_FILE "
            "(LIVEWS_ENV=prod refuses to start without a real value)"
        )


def _check_redis_scheme(url: str) -> None:
    from livews_common import redisconn

    redisconn.check(url)


def redis_url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with its user and password replaced (each only when given; percent-encoded)."""
    from livews_common import redisconn

    return redisconn.with_credentials(url, username, password)


def redact_redis_url(url: str) -> str:
    """``url`` fit for a log line: the password, if any, replaced by ``***``."""
    from livews_common import redisconn

    return redisconn.redact(url)


def resolve_redis_url(url: str, environ: dict[str, str] | None = None) -> str:
    """The URL a process connects with, credentials included (docs/redis-contract.md).

    ``REDIS_URL`` (or a file named by ``REDIS_URL_FILE``) gives the server and may carry
    ``user:password@``; ``REDIS_USERNAME`` names the ACL user and ``REDIS_PASSWORD`` (or
    ``REDIS_PASSWORD_FILE``) its password when the URL does not. Saying a password twice, or
    a user twice differently, is refused.
    """
    env = dict(os.environ) if environ is None else environ
    if not env.get("REDIS_URL") and env.get("REDIS_URL_FILE"):
        url = read_secret("REDIS_URL", env) or url
    _check_redis_scheme(url)
    from livews_common.redisconn import credentials

    url_user, url_password = credentials(url)
    username = env.get("REDIS_USERNAME") or None
    password = read_secret("REDIS_PASSWORD", env) or None
    if username and url_user and url_user != username:
        raise ConfigError(
            f"REDIS_USERNAME={username!r} contradicts the user in REDIS_URL; set only one"
        )
    if password and url_password:
        raise ConfigError(
            "REDIS_PASSWORD (or REDIS_PASSWORD_FILE) is set but REDIS_URL carries a password "
            "too; set only one"
        )
    if username is None and password is None:
        return url
    return redis_url_with_credentials(url, username, password)


class BaseServiceSettings(BaseSettings):
    """What every LiveWebsocket process reads. Services subclass and add their own."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    livews_env: Env = Field(default="dev", alias="LIVEWS_ENV")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    state_dir: Path = Field(default=Path("./.livews"), alias="LIVEWS_STATE_DIR")
    log_level: str = Field(default="INFO", alias="LIVEWS_LOG_LEVEL")
    #: ``json`` (one object a line) or ``text`` (readable); unset: json in prod, text in dev.
    log_format: LogFormat | None = Field(default=None, alias="LIVEWS_LOG_FORMAT")
    #: Clock skew forgiven when verifying access JWTs (exp, iat, nbf), in seconds.
    jwt_leeway: int = Field(default=DEFAULT_LEEWAY, ge=0, le=300, alias="LIVEWS_JWT_LEEWAY")

    @property
    def is_prod(self) -> bool:
        return self.livews_env == "prod"

    @property
    def json_logs(self) -> bool:
        """Whether logs are JSON lines (``LIVEWS_LOG_FORMAT``, else JSON exactly in prod)."""
        return self.is_prod if self.log_format is None else self.log_format == "json"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_any_case(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _redis_credentials(self) -> BaseServiceSettings:
        # Frozen model: the resolved URL (with the ACL user's password) replaces the raw one
        # once, here, so every service keeps using ``settings.redis_url``.
        object.__setattr__(self, "redis_url", resolve_redis_url(self.redis_url))
        return self
