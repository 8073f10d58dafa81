"""The auth service's Prometheus metrics, on a registry of its own (one per app instance)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livews_common.buildinfo import register_build_info
from livews_common.metrics import LATENCY_BUCKETS, new_registry

PREFIX = "livews_auth_"


class AuthMetrics:
    """Every metric livews-auth exports (names in docs/auth.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        r = self.registry
        register_build_info(r, "auth", "livews-auth")
        self.logins = Counter(
            PREFIX + "logins", "Completed /auth/callback attempts by result", ["result"],
            registry=r,
        )  # fmt: skip
        self.tokens_issued = Counter(PREFIX + "tokens_issued", "Access tokens issued", registry=r)
        self.refresh_reuse = Counter(
            PREFIX + "refresh_reuse_detected",
            "Refresh tokens presented a second time (each revokes its session)",
            registry=r,
        )
        self.sessions_revoked = Counter(
            PREFIX + "sessions_revoked", "Sessions revoked, by reason", ["reason"], registry=r
        )
        self.sessions_expired = Counter(
            PREFIX + "sessions_expired",
            "Refreshes refused because the session reached AUTH_SESSION_MAX_AGE",
            registry=r,
        )
        self.sessions_forged = Counter(
            PREFIX + "sessions_forged",
            "Session records refused because their MAC does not match (not written by auth)",
            registry=r,
        )
        self.rate_limited = Counter(
            PREFIX + "rate_limited", "Requests refused with 429, by bucket", ["bucket"],
            registry=r,
        )  # fmt: skip
        self.fyers_latency = Histogram(
            PREFIX + "fyers_request_seconds",
            "Latency of calls to Fyers (code exchange, token refresh, profile), per attempt",
            ["call", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.feed_renewals = Counter(
            PREFIX + "feed_renewals",
            "Feed-token renewals by result (ok, refused, unavailable, not_configured)",
            ["result"],
            registry=r,
        )
        self.feed_renew_requests = Counter(
            PREFIX + "feed_renew_requests",
            "Messages received on auth:feed:renew (requests to renew the feed token)",
            registry=r,
        )
        self.feed_renew_ignored = Counter(
            PREFIX + "feed_renew_ignored",
            "Renewal requests not acted on, by reason (token_alive, throttled, served, unverified)",
            ["reason"],
            registry=r,
        )
        self.feed_ok = Gauge(
            PREFIX + "feed_ok",
            "1 while auth can keep the feed token fresh, 0 when an operator must act",
            registry=r,
        )
        self.feed_expires_at = Gauge(
            PREFIX + "feed_token_expires_at_seconds",
            "Epoch seconds at which the current feed token expires (0: none)",
            registry=r,
        )
        self.feed_ttl = Gauge(
            PREFIX + "feed_token_ttl_seconds",
            "Seconds until the current feed token expires (negative: expired; 0: none)",
            registry=r,
        )
        self.feed_refresh_expiry = Gauge(
            PREFIX + "feed_refresh_token_expiry_seconds",
            "Seconds until the feed account's Fyers refresh token lapses (issued at sign-in, "
            "valid ~15 days; negative: lapsed). Absent until auth has seen the account",
            registry=r,
        )
        self._feed_expiry = 0
        self.feed_ttl.set_function(self._feed_ttl)
        self.http_requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            PREFIX + "http_request_duration_seconds",
            "HTTP request duration (to the end of the response) by method, route, status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _feed_ttl(self) -> float:
        return float(self._feed_expiry - time.time()) if self._feed_expiry else 0.0

    def set_feed(self, *, ok: bool, expires_at: int | None) -> None:
        self.feed_ok.set(1 if ok else 0)
        self._feed_expiry = expires_at or 0
        self.feed_expires_at.set(self._feed_expiry)

    def observe_fyers(self, call: str, outcome: str, seconds: float) -> None:
        self.fyers_latency.labels(call, outcome).observe(seconds)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        status_label = str(status)
        self.http_requests.labels(method, route, status_label).inc()
        self.http_duration.labels(method, route, status_label).observe(seconds)


#: The ``route`` label of a request no route matched (a 404): never the raw path.
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by method, route template, status.

    The label is the route's template (``/auth/callback``), never the path a client sent, so
    neither user ids nor probing paths can grow the series; unknown methods count as ``OTHER``.
    """

    def __init__(self, app: ASGIApp, metrics: AuthMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.observe_request(method, template, status, time.perf_counter() - started)
