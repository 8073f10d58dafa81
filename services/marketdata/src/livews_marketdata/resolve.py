"""Ask the upstream which symbols it knows: ``POST {FYERS_DATA_BASE}/symbol-token``.

The same call the SDK makes inside ``subscribe()``, but ours is asynchronous, has a timeout
and tells us *which* symbols were refused, so verdicts reach the gateways before the
subscription is even sent. The reply is ``{"s": "ok", "validSymbol": {symbol: fytoken},
"invalidSymbol": [...]}``; errors use Fyers' ``{"s": "error", "code", "message"}``.

Calls are rate limited (:class:`CallLimiter`, ``MARKETDATA_RESOLVE_RATE`` per second, bursts of
``MARKETDATA_RESOLVE_BURST``): symbol-token counts against the feed account's REST quota, and
gateways ask for whatever symbols their clients name. Only the leader calls it, so its own
limiter is the fleet's (a takeover starts with a fresh burst, once per takeover; a Redis
bucket would add a round-trip and a key for no better bound). A call over the rate *waits*
rather than failing: symbols asked for meanwhile gather into the next call (500 per call),
so a flood of new symbols costs the upstream at most ``rate`` calls per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import httpx

from livews_marketdata.errors import AuthRefused, TokenExpired, UpstreamError

log = logging.getLogger(__name__)

#: Symbols per request (the SDK's own chunk size).
CHUNK = 500
#: fytokens remembered (for the HSM client's topics) before the map starts over.
FYTOKEN_CAP = 50_000
_EXPIRED_CODES = frozenset({-8, -99})
_REFUSED_CODES = frozenset({-15, -16, -17})


class CallLimiter:
    """A token bucket: ``rate`` calls per second on average, bursts of up to ``burst``."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self.waited = 0.0  # seconds spent waiting, in total

    def reserve(self) -> float:
        """Take one call's token (going into debt if none is left); seconds to wait first."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            self.waited += delay
            log.debug("symbol-token call rate limited", extra={"wait": round(delay, 3)})
            await asyncio.sleep(delay)


class SymbolResolver:
    """Resolves symbols with one rate-limited REST call per ``CHUNK`` symbols."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        timeout: float = 10.0,
        limiter: CallLimiter | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout
        self._limiter = limiter
        self.calls = 0
        self.fytokens: dict[str, str] = {}  # symbol → fytoken, from the replies so far

    async def fytokens_for(self, symbols: Sequence[str], bare_token: str) -> dict[str, str]:
        """``{symbol: fytoken}`` for the known ones among ``symbols`` (asks only for the rest)."""
        missing = [s for s in symbols if s not in self.fytokens]
        if missing:
            await self.resolve(missing, bare_token)
        return {s: t for s in symbols if (t := self.fytokens.get(s)) is not None}

    async def resolve(self, symbols: Sequence[str], bare_token: str) -> dict[str, bool]:
        """Symbol → known to the upstream. Raises :class:`UpstreamError` when it cannot tell."""
        result: dict[str, bool] = {}
        for start in range(0, len(symbols), CHUNK):
            chunk = list(symbols[start : start + CHUNK])
            result.update(await self._resolve_chunk(chunk, bare_token))
        return result

    async def _resolve_chunk(self, symbols: list[str], bare_token: str) -> dict[str, bool]:
        if self._limiter is not None:
            await self._limiter.acquire()
        self.calls += 1
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
        if len(self.fytokens) > FYTOKEN_CAP:
            self.fytokens = {}
        self.fytokens.update(
            (s, t) for s, t in valid.items() if isinstance(s, str) and isinstance(t, str)
        )
        result = {s: False for s in invalid if isinstance(s, str)}
        result.update({s: True for s in valid if isinstance(s, str)})
        # A symbol the reply does not mention is unknown too.
        return {s: result.get(s, False) for s in symbols}
