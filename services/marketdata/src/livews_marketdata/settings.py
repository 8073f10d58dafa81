"""The ingestor's configuration: environment variables only (12-factor).

Every variable, its default and its meaning is in docs/marketdata.md. Secrets (the optional
``FYERS_ACCESS_TOKEN``) are read through :func:`livews_common.settings.read_secret`, so
``FYERS_ACCESS_TOKEN_FILE`` works too, and are never kept in a field that ``repr`` shows.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import uuid
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from livews_common.market import Calendar, HolidayFileError, MarketClock, load_holidays
from livews_common.settings import BaseServiceSettings, ConfigError, read_secret
from livews_common.symbols import DEFAULT_WATCHLIST, is_valid_symbol

#: Fyers' own index map; the SDK fetches it on first use unless its cache is pre-filled.
FYERS_INDEX_MAP_URL = "https://public.fyers.in/sym_details/index_hsm_mapping.json"
_FYERS_HOSTS = ("fyers.in",)
_OFF = frozenset({"", "off", "none", "disabled", "false", "0"})

SourceKind = Literal["fyers", "replay"]


class MarketdataSettings(BaseServiceSettings):
    """What ``livews-marketdata`` reads from its environment."""

    data_ws_url: str = Field("wss://socket.fyers.in/hsm/v1-5/prod", alias="FYERS_DATA_WS_URL")
    data_base: str = Field("https://api-t1.fyers.in/data", alias="FYERS_DATA_BASE")
    index_map_url: str | None = Field(None, alias="MARKETDATA_INDEX_MAP_URL")
    source: SourceKind = Field("fyers", alias="MARKETDATA_SOURCE")
    # The Fyers socket client: our asyncio HSM client, or fyers-apiv3's (kept for comparison).
    upstream_client: Literal["hsm", "sdk"] = Field("hsm", alias="MARKETDATA_UPSTREAM")
    #: The HSM data mode: ``full`` (every field) or ``lite`` (the last price only; the other
    #: Tick fields are null). Our HSM client only: the SDK adapter always runs full.
    data_mode: Literal["full", "lite"] = Field("full", alias="MARKETDATA_DATA_MODE")
    replay_path: Path | None = Field(None, alias="MARKETDATA_REPLAY_PATH")
    replay_speed: float = Field(1.0, gt=0, alias="MARKETDATA_REPLAY_SPEED")
    replay_loop: bool = Field(True, alias="MARKETDATA_REPLAY_LOOP")
    record_path: Path | None = Field(None, alias="MARKETDATA_RECORD_PATH")
    stall_seconds: float = Field(20.0, gt=0, alias="MARKETDATA_STALL_SECONDS")
    connect_timeout: float = Field(10.0, gt=0, alias="MARKETDATA_CONNECT_TIMEOUT")
    rest_timeout: float = Field(10.0, gt=0, alias="MARKETDATA_REST_TIMEOUT")
    sdk_log_dir_raw: str | None = Field(None, alias="MARKETDATA_SDK_LOG_DIR")
    instance_id_raw: str | None = Field(None, alias="MARKETDATA_INSTANCE_ID")
    lease_ttl_ms: int = Field(2000, ge=500, alias="MARKETDATA_LEASE_TTL_MS")
    standby_poll_ms: int = Field(250, ge=20, alias="MARKETDATA_STANDBY_POLL_MS")
    watchlist_raw: str | None = Field(None, alias="MARKETDATA_WATCHLIST")
    # Topics over all upstream sockets (default: SOCKET_SYMBOLS × SOCKETS; the SDK: 5000).
    symbol_limit: int | None = Field(None, ge=1, le=80_000, alias="MARKETDATA_SYMBOL_LIMIT")
    # Topics per upstream socket (the SDK documents 5000; a plan may allow fewer).
    socket_symbols: int = Field(5000, ge=1, le=5000, alias="MARKETDATA_SOCKET_SYMBOLS")
    # Upstream sockets the leader may open when demand exceeds one socket's limit.
    max_sockets: int = Field(3, ge=1, le=16, alias="MARKETDATA_SOCKETS")
    demand_debounce_ms: int = Field(100, ge=0, alias="MARKETDATA_DEMAND_DEBOUNCE_MS")
    demand_rescan_seconds: float = Field(5.0, gt=0, alias="MARKETDATA_DEMAND_RESCAN_SECONDS")
    #: How long a "no such symbol" verdict is kept (seconds); positive ones are kept.
    negative_verdict_ttl: float = Field(600.0, ge=1, alias="MARKETDATA_NEGATIVE_VERDICT_TTL")
    #: symbol-token calls per second (the leader's limiter is the fleet's), and the burst.
    resolve_rate: float = Field(0.5, gt=0, alias="MARKETDATA_RESOLVE_RATE")
    resolve_burst: int = Field(10, ge=1, alias="MARKETDATA_RESOLVE_BURST")
    backoff_base_ms: int = Field(500, ge=10, alias="MARKETDATA_BACKOFF_BASE_MS")
    backoff_max_ms: int = Field(30_000, ge=10, alias="MARKETDATA_BACKOFF_MAX_MS")
    #: Market hours (docs/marketdata.md): ``nse`` = the NSE/BSE calendar; ``off`` = always open.
    market_calendar: Literal["nse", "off"] = Field("nse", alias="MARKETDATA_MARKET_CALENDAR")
    holidays_file: Path | None = Field(None, alias="MARKETDATA_HOLIDAYS_FILE")
    #: For tests only: the market clock starts at this instant and runs SPEED times faster.
    market_clock_start: datetime | None = Field(None, alias="MARKETDATA_MARKET_CLOCK_START")
    market_clock_speed: float = Field(1.0, gt=0, alias="MARKETDATA_MARKET_CLOCK_SPEED")
    #: ``md:status`` expires this long after a live leader last refreshed it (every TTL/3).
    status_ttl: float = Field(15.0, ge=3, alias="MARKETDATA_STATUS_TTL_SECONDS")
    #: One-minute bars (docs/marketdata.md): the newest bars kept per symbol in md:bars:1m:*;
    #: the bar length in seconds is for tests only (the contract's bars are 60 s, "1m").
    bars_cap: int = Field(500, ge=1, le=10_000, alias="MARKETDATA_BARS_CAP")
    bar_seconds: int = Field(60, ge=1, le=60, alias="MARKETDATA_BAR_SECONDS")
    #: md:status carries a warning this long before the feed's refresh token lapses.
    refresh_token_warn_seconds: float = Field(
        259_200.0, ge=0, alias="MARKETDATA_REFRESH_TOKEN_WARN_SECONDS"
    )
    log_json: bool | None = Field(None, alias="LIVEWS_LOG_JSON")

    @field_validator("data_base", "data_ws_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def symbol_token_url(self) -> str:
        """Where symbols are resolved to Fyers tokens: ``{FYERS_DATA_BASE}/symbol-token``."""
        return f"{self.data_base}/symbol-token"

    @property
    def index_map(self) -> str:
        """The index map URL: configured, else Fyers' own, else the data base's origin's."""
        if self.index_map_url:
            return self.index_map_url
        parts = urlsplit(self.data_base)
        host = parts.hostname or ""
        if any(host == h or host.endswith("." + h) for h in _FYERS_HOSTS):
            return FYERS_INDEX_MAP_URL
        return f"{parts.scheme}://{parts.netloc}/sym_details/index_hsm_mapping.json"

    @property
    def sdk_log_dir(self) -> Path | None:
        """Where the SDK's log file goes; None when disabled (``MARKETDATA_SDK_LOG_DIR=off``)."""
        raw = self.sdk_log_dir_raw
        if raw is None:
            return self.state_dir / "fyers-sdk"
        if raw.strip().lower() in _OFF:
            return None
        return Path(raw)

    def make_instance_id(self) -> str:
        """``MARKETDATA_INSTANCE_ID``, else ``host-pid-random`` (call once per process)."""
        return self.instance_id_raw or _default_instance_id()

    @property
    def lease_ttl(self) -> float:
        return self.lease_ttl_ms / 1000

    @property
    def watchlist(self) -> tuple[str, ...]:
        """Symbols always subscribed (default: NIFTY 50 and its two indices)."""
        if self.watchlist_raw is None:
            return DEFAULT_WATCHLIST
        symbols = tuple(s.strip() for s in self.watchlist_raw.split(",") if s.strip())
        bad = [s for s in symbols if not is_valid_symbol(s)]
        if bad:
            raise ConfigError(f"MARKETDATA_WATCHLIST has malformed symbols: {', '.join(bad)}")
        return tuple(dict.fromkeys(symbols))

    @property
    def json_logs(self) -> bool:
        """``LIVEWS_LOG_FORMAT`` first; ``LIVEWS_LOG_JSON`` is its older, boolean spelling."""
        if self.log_format is None and self.log_json is not None:
            return self.log_json
        return super().json_logs

    def market_clock(self) -> MarketClock:
        """The market clock: the calendar (holidays file or the shipped list) or always open."""
        try:
            holidays = load_holidays(self.holidays_file)
        except HolidayFileError as exc:
            raise ConfigError(f"MARKETDATA_HOLIDAYS_FILE: {exc}") from None
        clock = MarketClock(
            Calendar(holidays), start=self.market_clock_start, speed=self.market_clock_speed
        )
        if self.market_calendar == "off":
            clock.override = "open"
        return clock

    def total_symbol_limit(self) -> int:
        """Topics the leader subscribes at most, over all its upstream sockets."""
        if self.upstream_client == "sdk":
            return min(self.symbol_limit or 5000, 5000)  # one SDK socket
        return self.symbol_limit or self.socket_symbols * self.max_sockets

    def access_token(self) -> str | None:
        """``FYERS_ACCESS_TOKEN`` (or ``_FILE``): an ``APPID:TOKEN`` used instead of auth's."""
        value = read_secret("FYERS_ACCESS_TOKEN")
        return value.strip() if value and value.strip() else None

    def check(self) -> None:
        """Refuse settings that cannot run, naming the variable."""
        if self.source == "replay":
            if self.replay_path is None:
                raise ConfigError("MARKETDATA_SOURCE=replay needs MARKETDATA_REPLAY_PATH")
            if not self.replay_path.is_file():
                raise ConfigError(f"MARKETDATA_REPLAY_PATH={self.replay_path} is not a file")
        if self.backoff_max_ms < self.backoff_base_ms:
            raise ConfigError("MARKETDATA_BACKOFF_MAX_MS must be >= MARKETDATA_BACKOFF_BASE_MS")
        if self.upstream_client == "sdk" and self.data_mode == "lite":
            raise ConfigError(
                "MARKETDATA_DATA_MODE=lite needs MARKETDATA_UPSTREAM=hsm (the SDK runs full)"
            )
        if self.upstream_client == "sdk" and importlib.util.find_spec("fyers_apiv3") is None:
            raise ConfigError(
                "MARKETDATA_UPSTREAM=sdk needs fyers-apiv3, which the service does not ship "
                "(a dev/test dependency); use MARKETDATA_UPSTREAM=hsm"
            )
        self.watchlist  # noqa: B018 - validates MARKETDATA_WATCHLIST
        self.market_clock()  # validates MARKETDATA_HOLIDAYS_FILE
        token = self.access_token()
        if token is not None and ":" not in token:
            raise ConfigError(
                "FYERS_ACCESS_TOKEN must be APPID:TOKEN (the app id, a colon, the token)"
            )


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
