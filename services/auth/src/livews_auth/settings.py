"""The auth service's configuration: environment variables only (docs/auth.md has the table).

Secrets — the Fyers app secret, the signing key, the feed PIN — are read with
:func:`livews_common.settings.read_secret`, so each may also come from a file named by
``<NAME>_FILE``. ``AuthSettings.load()`` is the one way to build settings for a process;
``check()`` refuses, in prod, anything that cannot run safely, naming the variable.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from livews_common.settings import (
    BaseServiceSettings,
    ConfigError,
    is_placeholder,
    read_secret,
)

#: The emulator's app credentials, used in dev when no Fyers app is configured.
DEV_CLIENT_ID = "DEVAPP0001-100"
DEV_SECRET_KEY = "devsecret"

#: What a Fyers user id looks like (letters and digits, e.g. XA00001); checks the allow-list.
_FY_ID = re.compile(r"^[A-Za-z0-9_-]{2,32}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthSettings(BaseServiceSettings):
    """Everything livews-auth reads from its environment."""

    #: Variables read through read_secret (value or ``<NAME>_FILE``).
    SECRET_VARS: ClassVar[tuple[str, ...]] = (
        "FYERS_CLIENT_ID",
        "FYERS_SECRET_KEY",
        "FYERS_REDIRECT_URI",
        "AUTH_SIGNING_KEY",
        "AUTH_VERIFY_KEYS",
        "AUTH_FEED_PIN",
        "AUTH_ALLOWED_USERS",
    )

    fyers_api_base: str = Field(default="https://api-t1.fyers.in/api/v3", alias="FYERS_API_BASE")
    fyers_client_id: str | None = Field(default=None, alias="FYERS_CLIENT_ID")
    fyers_secret_key: SecretStr | None = Field(default=None, alias="FYERS_SECRET_KEY")
    fyers_redirect_uri: str | None = Field(default=None, alias="FYERS_REDIRECT_URI")
    fyers_timeout: float = Field(default=10.0, gt=0, alias="AUTH_FYERS_TIMEOUT")
    fyers_retries: int = Field(default=2, ge=0, le=10, alias="AUTH_FYERS_RETRIES")

    access_ttl: int = Field(default=900, ge=1, alias="AUTH_ACCESS_TTL")
    refresh_ttl: int = Field(default=7 * 86_400, ge=60, alias="AUTH_REFRESH_TTL")
    login_ttl: int = Field(default=600, ge=1, alias="AUTH_LOGIN_TTL")
    session_max_age: int = Field(default=86_400, ge=10, alias="AUTH_SESSION_MAX_AGE")
    allowed_users_raw: str = Field(default="", alias="AUTH_ALLOWED_USERS")

    signing_key: SecretStr | None = Field(default=None, alias="AUTH_SIGNING_KEY")
    verify_keys: str | None = Field(default=None, alias="AUTH_VERIFY_KEYS")

    feed_account: str | None = Field(default=None, alias="AUTH_FEED_ACCOUNT")
    feed_pin: SecretStr | None = Field(default=None, alias="AUTH_FEED_PIN")
    feed_renew_margin: int = Field(default=900, ge=0, alias="AUTH_FEED_RENEW_MARGIN")
    feed_check_interval: float = Field(default=300.0, ge=0, alias="AUTH_FEED_CHECK_INTERVAL")
    feed_retry_max: float = Field(default=300.0, ge=0.1, alias="AUTH_FEED_RETRY_MAX")
    feed_renew_min_interval: float = Field(default=60.0, ge=0, alias="AUTH_FEED_RENEW_MIN_INTERVAL")

    allowed_origins_raw: str = Field(default="", alias="AUTH_ALLOWED_ORIGINS")
    trusted_proxies_raw: str = Field(default="127.0.0.1/32,::1/128", alias="AUTH_TRUSTED_PROXIES")
    rate_login: int = Field(default=30, ge=0, alias="AUTH_RATE_LOGIN")
    rate_token: int = Field(default=120, ge=0, alias="AUTH_RATE_TOKEN")
    rate_window: int = Field(default=60, ge=1, alias="AUTH_RATE_WINDOW")
    ready_requires_feed: bool = Field(default=False, alias="AUTH_READY_REQUIRES_FEED")
    # Service clients (POST /auth/oauth/token; docs/auth.md "Service clients").
    clients_file: Path | None = Field(default=None, alias="AUTH_CLIENTS_FILE")
    client_token_ttl: int = Field(default=600, ge=1, le=86_400, alias="AUTH_CLIENT_TOKEN_TTL")
    rate_client_failures: int = Field(default=10, ge=0, alias="AUTH_RATE_CLIENT_FAILURES")

    @classmethod
    def load(cls) -> AuthSettings:
        """Settings from the process environment, secrets from ``VAR`` or ``VAR_FILE``."""
        found = {name: read_secret(name) for name in cls.SECRET_VARS}
        values: dict[str, Any] = {name: value for name, value in found.items() if value}
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the variable when this cannot run."""
        if self.is_prod:
            self._check_prod_secrets()
        if self.fyers_client_id and "-" not in self.fyers_client_id:
            raise ConfigError(f"FYERS_CLIENT_ID={self.fyers_client_id!r} lacks its -100 suffix")
        if self.fyers_redirect_uri:
            parts = urlsplit(self.fyers_redirect_uri)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError("FYERS_REDIRECT_URI must be an absolute http(s) URL")
            if self.is_prod and parts.scheme != "https":
                raise ConfigError("FYERS_REDIRECT_URI must be https when LIVEWS_ENV=prod")
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(f"AUTH_ALLOWED_ORIGINS: {origin!r} is not scheme://host[:port]")
        _ = self.trusted_proxies  # parse now, so a typo stops the process at start
        self._check_allowed_users()

    def _check_prod_secrets(self) -> None:
        # Every missing one at once: an operator fixes them in one go, not one per restart.
        missing = [name for name, value in (
            ("FYERS_CLIENT_ID", self.fyers_client_id),
            ("FYERS_SECRET_KEY", self._plain(self.fyers_secret_key)),
            ("FYERS_REDIRECT_URI", self.fyers_redirect_uri),
            ("AUTH_SIGNING_KEY", self._plain(self.signing_key)),
            ("AUTH_FEED_PIN", self._plain(self.feed_pin) if self.feed_account else "n/a"),
        ) if is_placeholder(value)]  # fmt: skip
        if missing:
            raise ConfigError(
                f"LIVEWS_ENV=prod needs real values for {', '.join(missing)} (missing or a "
                "placeholder; set each variable or <NAME>_FILE)"
            )

    def _check_allowed_users(self) -> None:
        for user in self.allowed_users or ():
            if not _FY_ID.match(user):
                raise ConfigError(f"AUTH_ALLOWED_USERS: {user!r} is not a Fyers user id")

    @staticmethod
    def _plain(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    @property
    def client_id(self) -> str:
        """The Fyers app id (``XXXX-100``); the emulator's in dev when unset."""
        return self.fyers_client_id or DEV_CLIENT_ID

    @property
    def secret_key(self) -> str:
        return self._plain(self.fyers_secret_key) or DEV_SECRET_KEY

    @property
    def pin(self) -> str | None:
        value = self._plain(self.feed_pin)
        return None if is_placeholder(value) and self.is_prod else value

    @cached_property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/").lower() for o in self.allowed_origins_raw.split(",") if o.strip()
        )

    @cached_property
    def allowed_users(self) -> frozenset[str] | None:
        """Who may sign in (``AUTH_ALLOWED_USERS``), the feed account always included;
        None when no list is set (anyone with a Fyers account may sign in)."""
        listed = {u.strip() for u in re.split(r"[\s,]+", self.allowed_users_raw) if u.strip()}
        if not listed:
            return None
        if self.feed_account:
            listed.add(self.feed_account)
        return frozenset(listed)

    def may_sign_in(self, fy_id: str) -> bool:
        allowed = self.allowed_users
        return allowed is None or fy_id in allowed

    @cached_property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        nets: list[IPNetwork] = []
        for item in self.trusted_proxies_raw.split(","):
            if not item.strip():
                continue
            try:
                nets.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"AUTH_TRUSTED_PROXIES: {item.strip()!r} is not an IP or CIDR"
                ) from None
        return tuple(nets)
