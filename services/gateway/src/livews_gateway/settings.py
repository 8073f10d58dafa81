"""Gateway configuration: environment variables only (``GATEWAY_*`` plus the shared ones).

Every knob is documented in docs/gateway.md; the defaults are what one replica on a small
machine should run with.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from livews_common.settings import BaseServiceSettings

#: CONTRACT §3: inbound messages are limited to 64 KiB; a larger one closes the connection.
MAX_INBOUND_MESSAGE_BYTES = 64 * 1024


def default_instance_id() -> str:
    """``hostname-pid-random``: unique per process, readable in demand records and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class GatewaySettings(BaseServiceSettings):
    """What one gateway process reads from its environment."""

    jwks_url: str = Field(
        default="http://127.0.0.1:8001/auth/.well-known/jwks.json", alias="AUTH_JWKS_URL"
    )
    instance_id: str = Field(default_factory=default_instance_id, alias="GATEWAY_INSTANCE_ID")

    # --- connections ------------------------------------------------------------------------
    #: Origins allowed to open a socket; empty means same-origin only, ``*`` allows any.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="GATEWAY_CORS_ORIGINS"
    )
    max_connections: int = Field(default=10_000, ge=1, alias="GATEWAY_MAX_CONNECTIONS")
    #: Engine.IO transports; long-polling needs a load balancer with affinity.
    transports: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["websocket"], alias="GATEWAY_TRANSPORTS"
    )
    ping_interval: float = Field(default=25.0, gt=0, alias="GATEWAY_PING_INTERVAL")
    ping_timeout: float = Field(default=20.0, gt=0, alias="GATEWAY_PING_TIMEOUT")
    #: permessage-deflate on the websocket (costs CPU and memory per connection).
    compression: bool = Field(default=False, alias="GATEWAY_COMPRESSION")

    # --- subscriptions ----------------------------------------------------------------------
    max_symbols: int = Field(default=200, ge=1, alias="GATEWAY_MAX_SYMBOLS")
    subscribe_rate: float = Field(default=5.0, gt=0, alias="GATEWAY_SUBSCRIBE_RATE")
    subscribe_burst: int = Field(default=10, ge=1, alias="GATEWAY_SUBSCRIBE_BURST")
    #: Refused calls within ten seconds after which the client is cut off (bye rate_limited).
    rate_limit_strikes: int = Field(default=50, ge=1, alias="GATEWAY_RATE_LIMIT_STRIKES")
    verdict_wait: float = Field(default=2.0, ge=0, alias="GATEWAY_VERDICT_WAIT")

    # --- delivery ---------------------------------------------------------------------------
    flush_min_ms: float = Field(default=0.0, ge=0, alias="GATEWAY_FLUSH_MIN_MS")
    flush_max_ms: float = Field(default=50.0, gt=0, alias="GATEWAY_FLUSH_MAX_MS")
    #: Outgoing bytes a connection may hold unsent before its ticks are conflated.
    client_buffer_bytes: int = Field(
        default=256 * 1024, ge=4096, alias="GATEWAY_CLIENT_BUFFER_BYTES"
    )
    #: How long a client may stay over its buffer before ``bye`` slow_consumer.
    slow_consumer_seconds: float = Field(default=5.0, gt=0, alias="GATEWAY_SLOW_CONSUMER_SECONDS")
    #: SO_SNDBUF for client sockets (0 keeps the kernel's autotuning, which lets several MB
    #: pile up in the kernel for a client that stopped reading before anyone notices).
    socket_sndbuf: int = Field(default=256 * 1024, ge=0, alias="GATEWAY_SOCKET_SNDBUF")

    # --- sessions ---------------------------------------------------------------------------
    expiry_notice_seconds: float = Field(default=60.0, ge=0, alias="GATEWAY_EXPIRY_NOTICE_SECONDS")
    drain_seconds: float = Field(default=10.0, ge=0, alias="GATEWAY_DRAIN_SECONDS")

    # --- demand announcement ----------------------------------------------------------------
    demand_ttl: float = Field(default=15.0, gt=0, alias="GATEWAY_DEMAND_TTL")
    demand_refresh: float = Field(default=5.0, gt=0, alias="GATEWAY_DEMAND_REFRESH")

    @field_validator("cors_origins", "transports", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("transports")
    @classmethod
    def _known_transports(cls, value: list[str]) -> list[str]:
        unknown = set(value) - {"websocket", "polling"}
        if unknown or not value:
            raise ValueError("GATEWAY_TRANSPORTS must list websocket and/or polling")
        return value

    @property
    def cors_allowed(self) -> list[str] | str | None:
        """The value python-engineio expects: None = same origin, ``*`` = any, else a list."""
        if not self.cors_origins:
            return None
        if "*" in self.cors_origins:
            return "*"
        return list(self.cors_origins)
