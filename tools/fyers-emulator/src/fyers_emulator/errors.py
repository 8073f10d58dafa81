"""Errors the emulator answers with, in Fyers' envelope ``{"s": "error", "code", "message"}``.

Codes are negative like Fyers'; where Fyers' own code is not known the emulator picks one
in the same family and docs/emulator.md lists them all. HTTP statuses: 4xx only — a refused
request is never a 5xx, so clients can tell "Fyers said no" from "Fyers is down".
"""

from __future__ import annotations

from typing import ClassVar


class EmulatorError(Exception):
    """Root of every error a client can see; ``code`` and ``status`` are stable."""

    code: ClassVar[int] = -50
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "Invalid input"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def envelope(self) -> dict[str, object]:
        return {"s": "error", "code": self.code, "message": self.message}


class BadRequest(EmulatorError):
    """Malformed body, missing or mistyped field."""


class InvalidToken(EmulatorError):
    code = -16
    status = 401
    default_message = "Could not authenticate the user"


class TokenExpired(EmulatorError):
    code = -8
    status = 401
    default_message = "Your token has expired. Please generate a token"


class InvalidClient(EmulatorError):
    code = -352
    default_message = "Invalid app id"


class RedirectMismatch(EmulatorError):
    code = -351
    default_message = "redirect_uri does not match the app's redirect url"


class InvalidAppIdHash(EmulatorError):
    code = -352
    default_message = "Invalid appIdHash"


class InvalidAuthCode(EmulatorError):
    code = -371
    default_message = "Invalid auth code"


class MissingAuthCode(EmulatorError):
    code = -374
    default_message = "Please provide auth code"


class AuthRefused(EmulatorError):
    code = -373
    status = 403
    default_message = "Authentication refused (emulator fault refuse-auth)"


class InvalidRefreshToken(EmulatorError):
    code = -376
    default_message = "Invalid or expired refresh token"


class InvalidPin(EmulatorError):
    code = -380
    default_message = "Invalid PIN"


class NotFound(EmulatorError):
    code = -404
    status = 404
    default_message = "Not found"


class MethodNotAllowed(EmulatorError):
    code = -405
    status = 405
    default_message = "Method not allowed"
