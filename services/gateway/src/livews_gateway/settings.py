"""Gateway configuration: environment variables only (``GATEWAY_*`` plus the shared ones).

Every knob is documented in docs/gateway.md; the defaults are what one replica on a small
machine should run with.
"""

from __future__ import annotations

import os
import secrets
import socket
from ipaddress import IPv4Network, IPv6Network, ip_network
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

    # --- admission (transport/ and admission.py; docs/gateway.md "Admission") ---------------
    #: Seconds a new session has to complete an authorized Socket.IO connect.
    pending_seconds: float = Field(default=5.0, gt=0, alias="GATEWAY_PENDING_SECONDS")
    #: Sessions that are open but not yet authorized (counted apart from max_connections).
    max_pending: int = Field(default=256, ge=1, alias="GATEWAY_MAX_PENDING")
    #: Open sessions per client address (pending and authorized); 0 = no limit.
    address_max_connections: int = Field(default=200, ge=0, alias="GATEWAY_ADDRESS_MAX_CONNECTIONS")
    #: New sessions per second per client address (a token bucket); 0 = no limit.
    address_handshake_rate: float = Field(
        default=10.0, ge=0, alias="GATEWAY_ADDRESS_HANDSHAKE_RATE"
    )
    address_handshake_burst: int = Field(default=50, ge=1, alias="GATEWAY_ADDRESS_HANDSHAKE_BURST")
    #: Peers (CIDRs) whose X-Forwarded-For is believed: the load balancer / nginx hops.
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list, alias="GATEWAY_TRUSTED_PROXIES"
    )

    # --- inbound budget per connection (every message, whatever it is) -----------------------
    #: Messages per second; 0 turns the whole inbound budget off.
    inbound_message_rate: float = Field(default=20.0, ge=0, alias="GATEWAY_INBOUND_MESSAGE_RATE")
    inbound_message_burst: int = Field(default=60, ge=1, alias="GATEWAY_INBOUND_MESSAGE_BURST")
    inbound_byte_rate: int = Field(default=64 * 1024, ge=1, alias="GATEWAY_INBOUND_BYTE_RATE")
    #: Must hold one maximal message (64 KiB).
    inbound_byte_burst: int = Field(
        default=256 * 1024, ge=MAX_INBOUND_MESSAGE_BYTES, alias="GATEWAY_INBOUND_BYTE_BURST"
    )
    #: Refused messages within ten seconds after which the connection is cut off.
    inbound_strikes: int = Field(default=20, ge=1, alias="GATEWAY_INBOUND_STRIKES")

    # --- subscriptions ----------------------------------------------------------------------
    max_symbols: int = Field(default=200, ge=1, alias="GATEWAY_MAX_SYMBOLS")
    subscribe_rate: float = Field(default=5.0, gt=0, alias="GATEWAY_SUBSCRIBE_RATE")
    subscribe_burst: int = Field(default=10, ge=1, alias="GATEWAY_SUBSCRIBE_BURST")
    #: Refused calls within ten seconds after which the client is cut off (bye rate_limited).
    rate_limit_strikes: int = Field(default=50, ge=1, alias="GATEWAY_RATE_LIMIT_STRIKES")
    verdict_wait: float = Field(default=2.0, ge=0, alias="GATEWAY_VERDICT_WAIT")

    # --- per-user quotas, fleet-wide (quotas.py) ---------------------------------------------
    max_connections_per_user: int = Field(
        default=20, ge=1, alias="GATEWAY_MAX_CONNECTIONS_PER_USER"
    )
    #: Distinct symbols one user may hold across the fleet (its share of the upstream slots).
    max_symbols_per_user: int = Field(default=1000, ge=1, alias="GATEWAY_MAX_SYMBOLS_PER_USER")
    #: Symbols without a verdict one user may have probed upstream per minute.
    probes_per_minute: int = Field(default=100, ge=1, alias="GATEWAY_PROBES_PER_MINUTE")
    #: How long a crashed gateway's connections and symbols still count (seconds).
    quota_lease: float = Field(default=30.0, ge=3, alias="GATEWAY_QUOTA_LEASE")
    #: A ``seq`` further than this above a room's last one is ignored as absurd (fanout.py).
    max_seq_jump: int = Field(default=1_000_000, ge=1, alias="GATEWAY_MAX_SEQ_JUMP")

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks: list[IPv4Network | IPv6Network] = []
        for part in (item.strip() for item in value.split(",") if item.strip()):
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"GATEWAY_TRUSTED_PROXIES: {part!r} is not an address or CIDR "
                    "(example: 10.0.0.0/8,127.0.0.1)"
                ) from None
        return networks

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
