"""Base settings every service extends (12-factor: environment variables only).

Secrets are read from an environment variable or from a file named by ``<NAME>_FILE``
(the Docker/Kubernetes secrets convention). With ``LIVEWS_ENV=prod`` a missing, empty or
placeholder secret stops the process at start with a message naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Env = Literal["dev", "prod"]

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


class BaseServiceSettings(BaseSettings):
    """What every LiveWebsocket process reads. Services subclass and add their own."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    livews_env: Env = Field(default="dev", alias="LIVEWS_ENV")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    state_dir: Path = Field(default=Path("./.livews"), alias="LIVEWS_STATE_DIR")
    log_level: str = Field(default="INFO", alias="LIVEWS_LOG_LEVEL")

    @property
    def is_prod(self) -> bool:
        return self.livews_env == "prod"
