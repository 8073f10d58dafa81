"""Fyers API v3 OAuth and profile over httpx: the only module that talks to Fyers.

Every answer is sorted into three outcomes: a result, :class:`FyersRefused` (Fyers answered
and said no — a 4xx or its ``{"s": "error"}`` envelope), or :class:`FyersUnavailable` (Fyers
could not be reached, timed out, failed with a 5xx or answered something unreadable).
Network errors and 5xx are retried with exponential backoff and full jitter; a refusal never
is. Tokens are passed in and out as values and never logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

log = logging.getLogger(__name__)

#: Fyers error codes that mean "this access token is no longer usable".
TOKEN_DEAD_CODES = frozenset({-8, -15, -16, -17})


class FyersError(Exception):
    """Root of Fyers failures."""


class FyersRefused(FyersError):
    """Fyers answered and refused; ``code`` is Fyers' own (negative) error code."""

    def __init__(self, call: str, status: int, code: int | None, message: str) -> None:
        super().__init__(f"{call}: Fyers refused ({status}, code {code}): {message}")
        self.call = call
        self.status = status
        self.code = code
        self.message = message

    @property
    def token_dead(self) -> bool:
        return self.status == 401 or self.code in TOKEN_DEAD_CODES


class FyersUnavailable(FyersError):
    """Fyers could not be reached or failed; trying again later may work."""

    def __init__(self, call: str, reason: str) -> None:
        super().__init__(f"{call}: Fyers unavailable: {reason}")
        self.call = call
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FyersTokens:
    """What ``validate-authcode`` returns."""

    access_token: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class FyersProfile:
    fy_id: str
    name: str


def app_id_hash(client_id: str, secret_key: str) -> str:
    """sha256 hex of ``client_id:secret_key`` (what Fyers calls ``appIdHash``)."""
    return hashlib.sha256(f"{client_id}:{secret_key}".encode()).hexdigest()


def token_expiry(token: str) -> int | None:
    """The ``exp`` claim of a Fyers JWT, read without verifying (only Fyers can)."""
    try:
        payload = token.split(".")[1]
        doc = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return None
    exp = doc.get("exp") if isinstance(doc, dict) else None
    return exp if isinstance(exp, int) and not isinstance(exp, bool) else None


Observer = Callable[[str, str, float], None]


class FyersClient:
    """Calls Fyers' OAuth endpoints; the caller owns ``client`` (its lifespan closes it)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_base: str,
        client_id: str,
        secret_key: str,
        retries: int = 2,
        backoff: float = 0.2,
        observe: Observer | None = None,
    ) -> None:
        self._client = client
        self._base = api_base.rstrip("/")
        self._client_id = client_id
        self._hash = app_id_hash(client_id, secret_key)
        self._retries = retries
        self._backoff = backoff
        self._observe = observe

    @property
    def client_id(self) -> str:
        return self._client_id

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        return f"{self._base}/generate-authcode?{query}"

    async def exchange_code(self, auth_code: str) -> FyersTokens:
        """``validate-authcode``: the code for an access and a refresh token."""
        body = {"grant_type": "authorization_code", "appIdHash": self._hash, "code": auth_code}
        doc = await self._call("validate_authcode", "POST", "/validate-authcode", json=body)
        access, refresh = doc.get("access_token"), doc.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise FyersUnavailable("validate_authcode", "answer lacks the tokens")
        return FyersTokens(access, refresh)

    async def refresh_access_token(self, refresh_token: str, pin: str) -> str:
        """``validate-refresh-token``: a new access token from the refresh token and PIN."""
        body = {
            "grant_type": "refresh_token",
            "appIdHash": self._hash,
            "refresh_token": refresh_token,
            "pin": pin,
        }
        doc = await self._call(
            "validate_refresh_token", "POST", "/validate-refresh-token", json=body
        )
        access = doc.get("access_token")
        if not isinstance(access, str) or not access:
            raise FyersUnavailable("validate_refresh_token", "answer lacks the access token")
        return access

    async def profile(self, access_token: str) -> FyersProfile:
        """``profile``: who the access token belongs to."""
        headers = {"Authorization": f"{self._client_id}:{access_token}"}
        doc = await self._call("profile", "GET", "/profile", headers=headers)
        data = doc.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("fy_id"), str):
            raise FyersUnavailable("profile", "answer lacks data.fy_id")
        name = data.get("name")
        return FyersProfile(data["fy_id"], name if isinstance(name, str) else data["fy_id"])

    async def _call(self, call: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                doc = await self._once(call, method, path, **kwargs)
            except FyersRefused:
                self._record(call, "refused", started)
                raise
            except FyersUnavailable as exc:
                self._record(call, "unavailable", started)
                if attempt >= self._retries:
                    raise
                attempt += 1
                log.info(
                    "Fyers call failed; retrying",
                    extra={"call": call, "attempt": attempt, "reason": exc.reason},
                )
                await asyncio.sleep(random.uniform(0, self._backoff * 2**attempt))
                continue
            self._record(call, "ok", started)
            return doc

    async def _once(self, call: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, self._base + path, **kwargs)
        except httpx.TimeoutException:
            raise FyersUnavailable(call, "timed out") from None
        except httpx.HTTPError as exc:
            raise FyersUnavailable(call, type(exc).__name__) from None
        if response.status_code >= 500:
            raise FyersUnavailable(call, f"HTTP {response.status_code}")
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            if response.status_code >= 400:
                raise FyersRefused(call, response.status_code, None, "non-JSON error") from None
            raise FyersUnavailable(call, "answer is not JSON") from None
        if not isinstance(doc, dict):
            raise FyersUnavailable(call, "answer is not a JSON object")
        code = doc.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        message = doc.get("message")
        message = message[:200] if isinstance(message, str) else ""
        if response.status_code >= 400 or doc.get("s") != "ok":
            raise FyersRefused(call, response.status_code, code, message or "refused")
        return doc

    def _record(self, call: str, outcome: str, started: float) -> None:
        if self._observe is not None:
            self._observe(call, outcome, time.perf_counter() - started)
