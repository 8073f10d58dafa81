"""The ingestor's errors: one root, narrow subclasses with typed fields."""

from __future__ import annotations


class MarketdataError(Exception):
    """Root of every error the ingestor raises on purpose."""


class NotLeader(MarketdataError):
    """This instance no longer holds the leader lease (lost, expired or fenced)."""

    def __init__(self, holder: str, reason: str) -> None:
        super().__init__(f"{holder} is not the leader: {reason}")
        self.holder = holder
        self.reason = reason


class UpstreamError(MarketdataError):
    """The upstream connection failed; ``reason`` is a short stable word for metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TokenExpired(UpstreamError):
    """The upstream said the access token expired (Fyers code -99)."""

    def __init__(self, detail: str = "upstream says the token has expired") -> None:
        super().__init__("token_expired", detail)


class AuthRefused(UpstreamError):
    """The upstream refused the access token."""

    def __init__(self, detail: str) -> None:
        super().__init__("auth_refused", detail)


class SymbolLimitExceeded(MarketdataError):
    """More symbols are needed upstream than one connection may carry."""

    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(
            f"{needed} upstream topics are needed but the limit is {limit}; "
            f"{needed - limit} symbols are not subscribed"
        )
        self.needed = needed
        self.limit = limit


class RecordingError(MarketdataError):
    """A replay file line that is not a Tick or Depth v1 JSON."""

    def __init__(self, path: str, line: int, detail: str) -> None:
        super().__init__(f"{path}:{line}: {detail}")
        self.path = path
        self.line = line
