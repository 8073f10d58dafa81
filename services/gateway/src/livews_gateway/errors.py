"""The gateway's errors: one root, narrow subclasses with the stable code a client sees.

They are raised anywhere in the service and turned into Socket.IO answers only at the edge
(``handlers.py``): an ack ``{"ok": false, "code", "message"}`` or a refused connection.
"""

from __future__ import annotations

from livews_common.codes import ErrorCode


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class RequestError(GatewayError):
    """A client request that is refused; ``code`` is one of CONTRACT §3's error codes."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def ack(self) -> dict[str, object]:
        """The ack payload that answers the refused request."""
        return {"ok": False, "code": str(self.code), "message": self.message}


class BadRequest(RequestError):
    """A malformed payload (the socket stays up)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_REQUEST, message)


class RateLimited(RequestError):
    """Too many calls per second on one connection."""

    def __init__(self, message: str = "too many requests; slow down") -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)


class AuthRefused(RequestError):
    """A token that cannot open or extend a connection; ``reason`` feeds the metrics."""

    def __init__(self, reason: str, message: str, code: ErrorCode = ErrorCode.UNAUTHORIZED) -> None:
        super().__init__(code, message)
        self.reason = reason
