"""Auth codes, access tokens, refresh tokens and HSM keys: issued as JWTs, checked on every use.

Access tokens carry what the fyers-apiv3 SDK reads from them (``exp`` and ``hsm_key``; it only
base64-decodes). The HSM key is self-verifying — it packs the token's expiry and issue time
with a MAC — so the data socket, which only ever sees the key, can check it without a lookup
and tokens survive an emulator restart. ``expire_access_tokens`` moves a cutoff: every access
token (and HSM key) issued before it is expired; refresh tokens are untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from fyers_emulator.errors import InvalidAuthCode, InvalidRefreshToken, InvalidToken, TokenExpired
from fyers_emulator.settings import Settings

_ALG = "HS256"
_HSM_PAYLOAD = struct.Struct(">IQI")  # exp (s), issued (ms), nonce
_HSM_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What a valid access token (or its HSM key) stands for."""

    fy_id: str
    exp: int
    issued_ms: int


class TokenService:
    """Issues and verifies every credential; ``clock`` returns epoch seconds."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._key = settings.token_key
        self._clock = clock
        self._used_codes: dict[str, int] = {}  # auth-code jti → its exp, until it expires
        self._cutoff_ms = 0

    # -- auth codes ---------------------------------------------------------------------

    def issue_auth_code(self, fy_id: str, redirect_uri: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": "api.login.fyers.in",
            "sub": "auth_code",
            "iat": now,
            "nbf": now,
            "exp": now + self._settings.auth_code_ttl,
            "jti": uuid.uuid4().hex,
            "app_id": self._settings.app_id,
            "fy_id": fy_id,
            "display_name": fy_id,
            "redirect_uri": redirect_uri,
        }
        return jwt.encode(claims, self._key, algorithm=_ALG)

    def redeem_auth_code(self, code: str) -> str:
        """The fy_id of a valid, unexpired, not yet used code; marks it used."""
        try:
            claims = self._decode(code, "auth_code")
        except jwt.ExpiredSignatureError:
            raise InvalidAuthCode("Auth code has expired") from None
        except jwt.PyJWTError:
            raise InvalidAuthCode() from None
        if claims.get("app_id") != self._settings.app_id:
            raise InvalidAuthCode("Auth code was issued to another app")
        now = int(self._clock())
        self._used_codes = {j: e for j, e in self._used_codes.items() if e >= now}
        jti = str(claims.get("jti", ""))
        if jti in self._used_codes:
            raise InvalidAuthCode("Auth code has already been used")
        self._used_codes[jti] = int(claims["exp"])
        return str(claims["fy_id"])

    # -- access and refresh tokens ------------------------------------------------------

    def issue_access_token(self, fy_id: str) -> str:
        now_s = self._clock()
        # Strictly after the cutoff, so a token issued right after expire-tokens is valid.
        now, issued_ms = int(now_s), max(int(now_s * 1000), self._cutoff_ms + 1)
        exp = now + self._settings.access_ttl
        claims = {
            "iss": "api.fyers.in",
            "sub": "access_token",
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            "fy_id": fy_id,
            "app_id": self._settings.app_id,
            "appType": 100,
            "display_name": "",
            "oms": "K1",
            "hsm_key": self._hsm_key(exp, issued_ms),
            "iat_ms": issued_ms,
        }
        return jwt.encode(claims, self._key, algorithm=_ALG)

    def issue_refresh_token(self, fy_id: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": "api.fyers.in",
            "sub": "refresh_token",
            "iat": now,
            "exp": now + self._settings.refresh_ttl,
            "jti": uuid.uuid4().hex,
            "fy_id": fy_id,
            "app_id": self._settings.app_id,
        }
        return jwt.encode(claims, self._key, algorithm=_ALG)

    def verify_access_token(self, token: str) -> AccessGrant:
        """Raise ``InvalidToken`` or ``TokenExpired`` unless ``token`` is usable now."""
        try:
            claims = self._decode(token, "access_token")
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if claims.get("app_id") != self._settings.app_id:
            raise InvalidToken()
        grant = AccessGrant(str(claims["fy_id"]), int(claims["exp"]), int(claims["iat_ms"]))
        if self.is_expired(grant):
            raise TokenExpired()
        return grant

    def verify_refresh_token(self, token: str) -> str:
        """The fy_id of a valid refresh token."""
        try:
            claims = self._decode(token, "refresh_token")
        except jwt.PyJWTError:
            raise InvalidRefreshToken() from None
        if claims.get("app_id") != self._settings.app_id:
            raise InvalidRefreshToken()
        return str(claims["fy_id"])

    def _decode(self, token: str, sub: str) -> dict[str, Any]:
        # Time checks use this service's clock (tests move it), not PyJWT's.
        options: Options = {"require": ["exp", "iat", "sub"], "verify_exp": False,
                            "verify_iat": False, "verify_nbf": False}  # fmt: skip
        claims: dict[str, Any] = jwt.decode(token, self._key, algorithms=[_ALG], options=options)
        if not isinstance(claims["exp"], int) or claims["exp"] < int(self._clock()):
            raise jwt.ExpiredSignatureError("expired")
        if claims.get("sub") != sub:
            raise jwt.InvalidTokenError(f"not an {sub}")
        if sub != "refresh_token" and not claims.get("fy_id"):
            raise jwt.InvalidTokenError("no fy_id")
        if sub == "access_token" and not isinstance(claims.get("iat_ms"), int):
            raise jwt.InvalidTokenError("no iat_ms")
        return claims

    # -- HSM keys -----------------------------------------------------------------------

    def _hsm_key(self, exp: int, issued_ms: int) -> str:
        payload = _HSM_PAYLOAD.pack(exp, issued_ms, secrets.randbits(32))
        return payload.hex() + self._hsm_mac(payload).hex()

    def _hsm_mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"hsm:" + payload, hashlib.sha256).digest()[:_HSM_MAC_BYTES]

    def verify_hsm_key(self, key: str) -> AccessGrant:
        """Raise ``InvalidToken`` or ``TokenExpired`` unless ``key`` belongs to a usable token."""
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raise InvalidToken() from None
        payload, mac = raw[: _HSM_PAYLOAD.size], raw[_HSM_PAYLOAD.size :]
        if len(payload) != _HSM_PAYLOAD.size or not hmac.compare_digest(
            mac, self._hsm_mac(payload)
        ):
            raise InvalidToken()
        exp, issued_ms, _ = _HSM_PAYLOAD.unpack(payload)
        grant = AccessGrant("", exp, issued_ms)
        if self.is_expired(grant):
            raise TokenExpired()
        return grant

    # -- expiry -------------------------------------------------------------------------

    def is_expired(self, grant: AccessGrant) -> bool:
        return grant.exp < int(self._clock()) or grant.issued_ms <= self._cutoff_ms

    def expire_access_tokens(self) -> int:
        """Expire every access token issued so far; return the cutoff (epoch ms)."""
        self._cutoff_ms = int(self._clock() * 1000)
        return self._cutoff_ms
