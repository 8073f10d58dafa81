"""Ask the upstream which symbols it knows: ``POST {FYERS_DATA_BASE}/symbol-token``.

The same call the SDK makes inside ``subscribe()``, but ours is asynchronous, has a timeout
and tells us *which* symbols were refused, so verdicts reach the gateways before the
subscription is even sent. The reply is ``{"s": "ok", "validSymbol": {symbol: fytoken},
"invalidSymbol": [...]}``; errors use Fyers' ``{"s": "error", "code", "message"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from livews_marketdata.errors import AuthRefused, TokenExpired, UpstreamError

log = logging.getLogger(__name__)

#: Symbols per request (the SDK's own chunk size).
CHUNK = 500
_EXPIRED_CODES = frozenset({-8, -99})
_REFUSED_CODES = frozenset({-15, -16, -17})


class SymbolResolver:
    """Resolves symbols with one REST call per ``CHUNK`` symbols."""

    def __init__(self, client: httpx.AsyncClient, url: str, *, timeout: float = 10.0) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout

    async def resolve(self, symbols: Sequence[str], bare_token: str) -> dict[str, bool]:
        """Symbol → known to the upstream. Raises :class:`UpstreamError` when it cannot tell."""
        result: dict[str, bool] = {}
        for start in range(0, len(symbols), CHUNK):
            chunk = list(symbols[start : start + CHUNK])
            result.update(await self._resolve_chunk(chunk, bare_token))
        return result

    async def _resolve_chunk(self, symbols: list[str], bare_token: str) -> dict[str, bool]:
        try:
            response = await self._client.post(
                self._url,
                json={"symbols": symbols},
                headers={"Authorization": bare_token},
                timeout=self._timeout,
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError("symbol_token_unreachable", type(exc).__name__) from None
        if not isinstance(body, dict):
            raise UpstreamError("symbol_token_bad_reply", "not a JSON object")
        if body.get("s") != "ok":
            code, message = body.get("code"), str(body.get("message", ""))[:200]
            if code in _EXPIRED_CODES:
                raise TokenExpired(f"symbol-token says: {message} ({code})")
            if code in _REFUSED_CODES or response.status_code in (401, 403):
                raise AuthRefused(f"symbol-token says: {message} ({code})")
            raise UpstreamError("symbol_token_error", f"{message} ({code})")
        valid = body.get("validSymbol") or {}
        invalid = body.get("invalidSymbol") or []
        if not isinstance(valid, dict) or not isinstance(invalid, list):
            raise UpstreamError("symbol_token_bad_reply", "validSymbol/invalidSymbol malformed")
        result = {s: False for s in invalid if isinstance(s, str)}
        result.update({s: True for s in valid if isinstance(s, str)})
        # A symbol the reply does not mention is unknown too.
        return {s: result.get(s, False) for s in symbols}
