"""The auth service's errors: one root, narrow subclasses with a stable client-visible code.

Domain code raises these; only the API layer (``app.py``'s exception handler) turns them into
HTTP responses ``{"error": code, "message": ...}``. Messages never carry a secret.
"""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """Root of every error a client can see; ``code`` and ``status`` are stable."""

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "bad request"
    #: When true, the error response also deletes the refresh cookie.
    clears_refresh_cookie: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AuthError):
    """A parameter that can never be valid (e.g. an open redirect in ``next``)."""


class InvalidState(AuthError):
    """The login ``state`` is missing, unknown, expired, already used or from another browser."""

    code = "invalid_state"
    default_message = "login state is missing, expired, already used or from another browser"


class InvalidGrant(AuthError):
    """Fyers refused the authorization code (or the login was cancelled there)."""

    code = "invalid_grant"
    default_message = "Fyers refused the authorization code; sign in again"


class UpstreamUnavailable(AuthError):
    """Fyers could not be reached or failed (timeouts, 5xx, garbage)."""

    code = "upstream_unavailable"
    status = 502
    default_message = "Fyers is unavailable; try again shortly"


class Unauthorized(AuthError):
    """No usable credential (refresh cookie or bearer token)."""

    code = "unauthorized"
    status = 401
    default_message = "not signed in"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="livews"'}


class SessionRevoked(Unauthorized):
    """The session was revoked (logout, or a refresh token used twice)."""

    code = "session_revoked"
    default_message = "this session has been revoked; sign in again"


class SessionExpired(Unauthorized):
    """The session reached its absolute lifetime (``AUTH_SESSION_MAX_AGE``); sign in again.

    The only failure that clears a cookie: the refresh cookie is useless from now on.
    """

    default_message = "this session has reached its maximum lifetime; sign in again"
    clears_refresh_cookie: ClassVar[bool] = True


class Forbidden(AuthError):
    """This Fyers account is not on the sign-in allow-list (``AUTH_ALLOWED_USERS``)."""

    code = "forbidden"
    status = 403
    default_message = "this Fyers account may not sign in here"


class CrossSiteRequest(AuthError):
    """A state-changing request from an origin that is not this site's."""

    code = "forbidden"
    status = 403
    default_message = "cross-site request refused"


class RateLimited(AuthError):
    """Too many requests from one client address; retry after ``retry_after`` seconds."""

    code = "rate_limited"
    status = 429
    default_message = "too many requests; slow down"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(AuthError):
    """A dependency of ours (Redis) is not usable right now."""

    code = "unavailable"
    status = 503
    default_message = "the auth service cannot reach its store; try again shortly"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "2"}


class InvalidRequest(AuthError):
    """An OAuth2 token request that is malformed (RFC 6749 §5.2 ``invalid_request``)."""

    code = "invalid_request"
    default_message = "malformed token request"


class InvalidClient(AuthError):
    """Unknown service client or wrong secret (RFC 6749 §5.2 ``invalid_client``)."""

    code = "invalid_client"
    status = 401
    default_message = "client authentication failed"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="livews"'}


class InvalidScope(AuthError):
    """A scope the client is not allowed (RFC 6749 §5.2 ``invalid_scope``)."""

    code = "invalid_scope"
    default_message = "scope not allowed for this client"


class UnsupportedGrantType(AuthError):
    """A ``grant_type`` other than ``client_credentials`` at ``/auth/oauth/token``."""

    code = "unsupported_grant_type"
    default_message = "only grant_type=client_credentials is supported here"
