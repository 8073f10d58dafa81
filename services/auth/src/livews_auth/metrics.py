"""The auth service's Prometheus metrics, on a registry of its own (one per app instance)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from livews_common.metrics import LATENCY_BUCKETS, new_registry

PREFIX = "livews_auth_"


class AuthMetrics:
    """Every metric livews-auth exports (names in docs/auth.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        r = self.registry
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
        self._feed_expiry = 0
        self.feed_ttl.set_function(self._feed_ttl)

    def _feed_ttl(self) -> float:
        return float(self._feed_expiry - time.time()) if self._feed_expiry else 0.0

    def set_feed(self, *, ok: bool, expires_at: int | None) -> None:
        self.feed_ok.set(1 if ok else 0)
        self._feed_expiry = expires_at or 0
        self.feed_expires_at.set(self._feed_expiry)

    def observe_fyers(self, call: str, outcome: str, seconds: float) -> None:
        self.fyers_latency.labels(call, outcome).observe(seconds)
