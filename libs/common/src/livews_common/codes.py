"""Stable error and disconnect codes that clients see (CONTRACT §2, §3)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes used in Socket.IO acks, connect errors and HTTP error bodies."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    INVALID_SYMBOL = "invalid_symbol"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    RATE_LIMITED = "rate_limited"


class ByeCode(StrEnum):
    """Why the server closed a socket; sent in ``bye`` just before the disconnect."""

    TOKEN_EXPIRED = "token_expired"
    SESSION_REVOKED = "session_revoked"
    SLOW_CONSUMER = "slow_consumer"
    SERVER_SHUTDOWN = "server_shutdown"
    RATE_LIMITED = "rate_limited"

    @property
    def reconnect(self) -> bool:
        """Whether a client should reconnect on its own after this disconnect."""
        return self in (ByeCode.SLOW_CONSUMER, ByeCode.SERVER_SHUTDOWN, ByeCode.RATE_LIMITED)
