"""What one running auth app holds: its settings and the live components the lifespan built."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from livews_auth.clients import ClientRegistry
from livews_auth.feed import FeedCustodian
from livews_auth.keys import KeyRing
from livews_auth.logins import LoginStore
from livews_auth.metrics import AuthMetrics
from livews_auth.proxies import ProxyPolicy
from livews_auth.ratelimit import RateLimiter
from livews_auth.sessions import SessionStore
from livews_auth.settings import AuthSettings
from livews_auth.tokens import TokenIssuer
from livews_auth.upstream.fyers import FyersClient
from livews_auth.users import UserStore


@dataclass(frozen=True, slots=True)
class Runtime:
    """Built by the lifespan, read by request handlers through ``RuntimeDep``."""

    settings: AuthSettings
    metrics: AuthMetrics
    redis: aioredis.Redis
    fyers: FyersClient
    keys: KeyRing
    tokens: TokenIssuer
    sessions: SessionStore
    logins: LoginStore
    users: UserStore
    feed: FeedCustodian
    limiter: RateLimiter
    proxies: ProxyPolicy
    #: Service clients of the client-credentials grant, and their tokens' lifetime (s).
    clients: ClientRegistry
    client_ttl: int
