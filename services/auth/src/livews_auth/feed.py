"""Custody of the feed account's Fyers token: publish it for the ingestor, keep it fresh.

Contract with the ingestor (CONTRACT §4 private names, ``livews_common.names``):

- ``auth:feed:token`` holds a :class:`~livews_common.feedtoken.FeedToken` sealed with the token
  key; every change is followed by a message on the channel of the same name carrying only
  ``{"account", "expires_at", "issued_at"}`` — never the token.
- A message on ``auth:feed:renew`` (the upstream said the token expired) is a *request*, not
  an order: anyone who can publish may send it. Auth first asks Fyers (``profile``, at most
  once per ``REQUEST_CHECK_SECONDS`` per replica, however many requests arrive) whether the
  token is really dead, and spends the PIN only if it is.
- ``auth:feed:state`` is a :class:`~livews_common.models.FeedState`: ``ok`` is false whenever an
  operator must act, and ``action`` says exactly what to do.

Who is the feed account: ``AUTH_FEED_ACCOUNT``; in dev without it, the first user who signs
in (claimed once in Redis). Its tokens come from its sign-in (``adopt``) and are renewed with
``validate-refresh-token`` and ``AUTH_FEED_PIN`` — before expiry, when the ingestor asks and
Fyers confirms the token is dead, and when a periodic ``profile`` call shows Fyers no longer
accepts the token. Successful renewals are at least ``AUTH_FEED_RENEW_MIN_INTERVAL`` apart
across every replica (``auth:feed:renewed``, a key with that TTL). Every replica runs
the loop; a short Redis lock lets one renew at a time, and a request already served by
another replica (the token changed after it was asked for) is not served twice. Failures
back off exponentially with jitter up to ``AUTH_FEED_RETRY_MAX``; a new sign-in of the feed
account resets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from livews_auth import keyspace
from livews_auth.metrics import AuthMetrics
from livews_auth.settings import AuthSettings
from livews_auth.upstream.fyers import (
    FyersClient,
    FyersRefused,
    FyersUnavailable,
    token_expiry,
)
from livews_auth.users import FyersCredentials, UserStore
from livews_common import names, redisconn
from livews_common.feedtoken import FeedToken, TokenCipher
from livews_common.models import FeedState, WireError, decode, encode

log = logging.getLogger(__name__)

LOCK_MS = 60_000
FIRST_BACKOFF = 2.0
IDLE_RECHECK = 60.0
MAX_SLEEP = 3600.0
#: Per replica, at most one "is the token really dead?" profile call per this many seconds
#: for renewal requests; requests arriving meanwhile are coalesced into the next check.
REQUEST_CHECK_SECONDS = 5.0
#: Fyers' refresh tokens live 15 days from the sign-in that issued them; then only a new
#: sign-in of the feed account helps (LivewsFeedRefreshTokenExpiring warns days ahead).
REFRESH_TOKEN_LIFETIME = 15 * 86400

# KEYS: lock. ARGV: owner token. Deletes the lock only if we still own it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class FeedCustodian:
    """Keeps ``auth:feed:token`` fresh; ``run()`` is its background loop (cancel to stop)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        fyers: FyersClient,
        users: UserStore,
        cipher: TokenCipher,
        *,
        settings: AuthSettings,
        metrics: AuthMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._fyers = fyers
        self._users = users
        self._cipher = cipher
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._release: Any = redis.register_script(_RELEASE)
        self._wake = asyncio.Event()
        self._requested_ms: int | None = None  # a renewal request not yet served
        self._failing = False
        self._backoff = 0.0
        self._retry_at = 0.0  # monotonic
        self._next_check = 0.0  # monotonic
        self._request_check_at = 0.0  # monotonic: the next renewal request may be checked

    # -- who the feed account is --------------------------------------------------------

    async def account(self) -> str | None:
        if self._settings.feed_account:
            return self._settings.feed_account
        if self._settings.is_prod:
            return None
        raw = await self._redis.get(keyspace.FEED_ACCOUNT)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def claim(self, fy_id: str) -> bool:
        """Whether ``fy_id`` is the feed account (in dev the first to ask becomes it)."""
        if self._settings.feed_account or self._settings.is_prod:
            return fy_id == self._settings.feed_account
        await self._redis.set(keyspace.FEED_ACCOUNT, fy_id, nx=True)
        return await self.account() == fy_id

    # -- events -------------------------------------------------------------------------

    async def adopt(self, fy_id: str, credentials: FyersCredentials) -> None:
        """The feed account just signed in: its fresh token becomes the feed token."""
        await self._publish(fy_id, credentials.access_token, credentials.expires_at, "sign-in",
                            _refresh_lapse(credentials))  # fmt: skip
        self._failing, self._backoff, self._retry_at = False, 0.0, 0.0
        self._requested_ms = None
        self._wake.set()

    def request_renewal(self, why: str = "requested") -> None:
        """Note a renewal request; many before the next check count as one."""
        self._metrics.feed_renew_requests.inc()
        if self._requested_ms is not None:
            return  # already pending: coalesced, and no log line per message of a flood
        self._requested_ms = int(self._clock() * 1000)
        log.info("feed token renewal requested", extra={"why": why[:80]})
        self._wake.set()

    # -- reading what is published -----------------------------------------------------

    async def current(self) -> FeedToken | None:
        sealed = await self._redis.get(names.FEED_TOKEN)
        if sealed is None:
            return None
        if isinstance(sealed, str):
            sealed = sealed.encode()
        try:
            return self._cipher.open(sealed)
        except ValueError:
            log.warning("the stored feed token does not open with LIVEWS_TOKEN_KEY; replacing")
            return None

    async def state(self) -> FeedState | None:
        raw = await self._redis.get(names.FEED_STATE)
        if raw is None:
            return None
        try:
            return decode(raw, FeedState)
        except WireError:
            return None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._listen(), name="feed-renew-listener")
            tasks.create_task(self._supervise(), name="feed-supervisor")

    async def _listen(self) -> None:
        """Serve renewal requests from ``auth:feed:renew``; resubscribe after Redis trouble."""
        backoff = 0.5
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(names.FEED_TOKEN_RENEW)
                    backoff = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") == "subscribe":
                            self._wake.set()  # re-evaluate: requests may have been missed
                        elif message.get("type") == "message":
                            data = message.get("data")
                            why = data.decode(errors="replace") if isinstance(data, bytes) else ""
                            self.request_renewal(why or "ingestor request")
            except (RedisError, RedisClusterException) as exc:  # the latter: a Cluster in flux
                log.warning(
                    "feed renew channel lost; resubscribing",
                    extra={"error": type(exc).__name__, "retry_in": round(backoff, 2)},
                )
                await asyncio.sleep(random.uniform(backoff / 2, backoff))
                backoff = min(backoff * 2, 10.0)

    async def _supervise(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.step()
            except (RedisError, RedisClusterException) as exc:
                log.warning("feed custody cannot reach Redis", extra={"error": type(exc).__name__})
                delay = 2.0
            except Exception:  # a bug must not end custody; it is logged and retried
                log.exception("feed custody step failed")
                delay = 30.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, delay))

    async def step(self) -> float:
        """Do what is due now; the seconds until something may be due again."""
        account = await self.account()
        if account is None:
            if self._settings.is_prod:
                await self._report_problem(None, None, "AUTH_FEED_ACCOUNT is not set",
                                           "Set AUTH_FEED_ACCOUNT to the Fyers user id whose "
                                           "token powers the feed, then sign in as that user "
                                           "at /auth/login.", "not_configured")  # fmt: skip
            else:
                await self._report_problem(None, None, "no user has signed in yet",
                                           "Sign in at /auth/login: in dev the first user "
                                           "becomes the feed account.", None)  # fmt: skip
            return IDLE_RECHECK
        credentials = await self._users.credentials(account)
        feed = await self.current()
        if credentials is None:
            await self._report_problem(
                account, feed.expires_at if feed else None,
                f"auth holds no Fyers credentials for {account}",
                f"Sign in at /auth/login as {account}.", None,
            )  # fmt: skip
            return IDLE_RECHECK
        self._watch_refresh_token(credentials)
        why = await self._due(account, feed)
        if why is None:
            assert feed is not None
            await self._ensure_ok_state(account, feed)
            return self._sleep_for(feed)
        pause = self._retry_at - time.monotonic()
        if pause > 0:
            return pause
        throttled = await self._throttled_for()
        if throttled > 0:
            latest = await self.current()
            if latest is not None and latest != feed and self._requested_ms is not None:
                return 0.0  # another replica renewed meanwhile: look at the new token
            self._metrics.feed_renew_ignored.labels("throttled").inc()
            log.info("feed token renewal deferred: the last one was too recent",
                     extra={"why": why, "retry_in": round(throttled, 1)})  # fmt: skip
            return throttled
        return await self._renew(account, credentials, feed, why)

    def _watch_refresh_token(self, credentials: FyersCredentials) -> None:
        """The refresh token cannot be renewed without a sign-in: export its remaining life."""
        self._metrics.feed_refresh_expiry.set(round(_refresh_lapse(credentials) - self._clock()))

    async def _throttled_for(self) -> float:
        """Seconds until the next renewal is allowed (0: now), over every replica."""
        if self._settings.feed_renew_min_interval <= 0:
            return 0.0
        left_ms = await self._redis.pttl(keyspace.FEED_RENEWED)
        return max(0.0, int(left_ms) / 1000) if left_ms and int(left_ms) > 0 else 0.0

    async def _due(self, account: str, feed: FeedToken | None) -> str | None:
        now = self._clock()
        if feed is None:
            return "no feed token is published"
        if feed.account != account:
            return "the feed account changed"
        if feed.expires_at - now <= self._margin(feed):
            return "the feed token expires soon"
        if self._requested_ms is not None and await self._request_confirmed(feed):
            return "the ingestor reported the token expired and Fyers confirms it"
        if self._failing:
            return "retrying a failed renewal"
        if await self._check_says_dead(feed):
            return "Fyers no longer accepts the feed token"
        return None

    def _margin(self, feed: FeedToken) -> float:
        # A token that lives shorter than the margin would be renewed in a loop: halve it.
        lifetime = feed.expires_at - feed.issued_at / 1000
        return min(float(self._settings.feed_renew_margin), max(lifetime / 2, 0.0))

    def _sleep_for(self, feed: FeedToken) -> float:
        delay = feed.expires_at - self._margin(feed) - self._clock()
        if self._settings.feed_check_interval > 0:
            delay = min(delay, self._next_check - time.monotonic())
        if self._requested_ms is not None:  # a request waits for its check
            return max(0.05, min(delay, self._request_check_at - time.monotonic()))
        return max(1.0, min(delay, MAX_SLEEP))

    async def _request_confirmed(self, feed: FeedToken) -> bool:
        """Whether a pending renewal request is justified: the token is really dead.

        A request the current token post-dates was served already. Otherwise Fyers is asked
        (``profile``) at most once per ``REQUEST_CHECK_SECONDS``; a token it accepts, or an
        answer we cannot read, drops the request (the ingestor asks again if it must).
        """
        requested = self._requested_ms
        assert requested is not None
        if feed.issued_at > requested:
            self._requested_ms = None
            self._metrics.feed_renew_ignored.labels("served").inc()
            log.info("feed token renewal request already served")
            return False
        now = time.monotonic()
        if now < self._request_check_at:
            return False  # stays pending; _sleep_for wakes us for the check
        self._request_check_at = now + REQUEST_CHECK_SECONDS
        token = feed.access_token.partition(":")[2]
        try:
            await self._fyers.profile(token)
        except FyersRefused as exc:
            if exc.token_dead:
                return True
            reason = "unverified"
        except FyersUnavailable:
            reason = "unverified"
        else:
            reason = "token_alive"
        self._requested_ms = None
        self._metrics.feed_renew_ignored.labels(reason).inc()
        log.info("feed token renewal request ignored", extra={"reason": reason})
        return False

    async def _check_says_dead(self, feed: FeedToken) -> bool:
        """Ask Fyers (profile) whether the token still works — one replica per interval."""
        interval = self._settings.feed_check_interval
        if interval <= 0 or time.monotonic() < self._next_check:
            return False
        self._next_check = time.monotonic() + interval
        if not await self._redis.set(keyspace.FEED_CHECKED, "1", nx=True, px=int(interval * 1000)):
            return False  # another replica checked within this interval
        token = feed.access_token.partition(":")[2]
        try:
            await self._fyers.profile(token)
        except FyersRefused as exc:
            return exc.token_dead
        except FyersUnavailable as exc:
            log.info("feed token check skipped: Fyers unavailable", extra={"reason": exc.reason})
        return False

    # -- renewal ------------------------------------------------------------------------

    async def _renew(
        self, account: str, credentials: FyersCredentials, feed: FeedToken | None, why: str
    ) -> float:
        owner = secrets.token_hex(8)
        if not await self._redis.set(keyspace.FEED_LOCK, owner, nx=True, px=LOCK_MS):
            return 1.0  # another replica is renewing; look again shortly
        try:
            requested = self._requested_ms
            if requested is not None and feed is not None and feed.account == account:
                latest = await self.current()
                if latest is not None and latest.issued_at > requested:
                    self._requested_ms = None
                    self._metrics.feed_renew_ignored.labels("served").inc()
                    log.info("feed token renewal request already served by another replica")
                    return 0.0
            pin = self._settings.pin
            if not pin:
                return await self._fail(
                    account, feed, "AUTH_FEED_PIN is not set, so the feed token cannot be renewed",
                    f"Set AUTH_FEED_PIN (or AUTH_FEED_PIN_FILE) to the Fyers PIN of {account} "
                    "and restart auth.", "not_configured",
                )  # fmt: skip
            try:
                access = await self._fyers.refresh_access_token(credentials.refresh_token, pin)
            except FyersRefused as exc:
                reason, action = _explain_refusal(exc, account)
                return await self._fail(account, feed, reason, action, "refused")
            except FyersUnavailable as exc:
                return await self._fail(
                    account, feed, f"Fyers is unreachable while renewing ({exc.reason})",
                    "None if it passes: auth keeps retrying. If it persists, check that auth "
                    "can reach FYERS_API_BASE.", "unavailable",
                )  # fmt: skip
            expires_at = token_expiry(access) or int(self._clock()) + 3600
            await self._users.update_access_token(account, access, expires_at)
            interval_ms = int(self._settings.feed_renew_min_interval * 1000)
            if interval_ms > 0:
                await self._redis.set(keyspace.FEED_RENEWED, "1", px=interval_ms)
            self._requested_ms = None
            self._failing, self._backoff, self._retry_at = False, 0.0, 0.0
            await self._publish(account, access, expires_at, why, _refresh_lapse(credentials))
            self._metrics.feed_renewals.labels("ok").inc()
            return 0.0
        finally:
            with contextlib.suppress(RedisError):
                await self._release(keys=[keyspace.FEED_LOCK], args=[owner])

    async def _fail(
        self, account: str, feed: FeedToken | None, reason: str, action: str, result: str
    ) -> float:
        self._failing = True
        self._metrics.feed_renewals.labels(result).inc()
        first = FIRST_BACKOFF if result != "not_configured" else self._settings.feed_retry_max
        self._backoff = min(max(self._backoff * 2, first), self._settings.feed_retry_max)
        delay = random.uniform(self._backoff / 2, self._backoff)
        self._retry_at = time.monotonic() + delay
        await self._report_problem(account, feed.expires_at if feed else None, reason, action,
                                   result)  # fmt: skip
        return delay

    # -- publishing and state -----------------------------------------------------------

    async def _publish(
        self, account: str, access_token: str, expires_at: int, why: str,
        refresh_expires_at: int = 0,
    ) -> None:  # fmt: skip
        now_ms = int(self._clock() * 1000)
        feed = FeedToken(
            access_token=f"{self._fyers.client_id}:{access_token}",
            account=account,
            expires_at=expires_at,
            issued_at=now_ms,
            refresh_expires_at=refresh_expires_at,
        )
        notice = orjson.dumps({"account": account, "expires_at": expires_at, "issued_at": now_ms})
        state = FeedState(ok=True, account=account, expires_at=expires_at, reason=None,
                          action=None, ts=now_ms)  # fmt: skip
        if redisconn.is_cluster(self._redis):
            # The two keys live in different slots (their names are shared with marketdata):
            # no transaction; the token is written before the notice that says it changed.
            await self._redis.set(names.FEED_TOKEN, self._cipher.seal(feed))
            await self._redis.set(names.FEED_STATE, encode(state))
            await self._redis.publish(names.FEED_TOKEN_CHANGED, notice)
        else:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(names.FEED_TOKEN, self._cipher.seal(feed))
                pipe.set(names.FEED_STATE, encode(state))
                pipe.publish(names.FEED_TOKEN_CHANGED, notice)
                await pipe.execute()
        self._metrics.set_feed(ok=True, expires_at=expires_at)
        log.info(
            "feed token published",
            extra={"account": account, "expires_at": expires_at, "why": why, "feed_ok": True},
        )

    async def _ensure_ok_state(self, account: str, feed: FeedToken) -> None:
        """Mirror FEED_STATE into metrics; restore it when it was lost or is stale."""
        state = await self.state()
        if state is None or (not state.ok and state.ts < feed.issued_at):
            state = FeedState(ok=True, account=account, expires_at=feed.expires_at, reason=None,
                              action=None, ts=int(self._clock() * 1000))  # fmt: skip
            await self._redis.set(names.FEED_STATE, encode(state))
        self._metrics.set_feed(ok=state.ok, expires_at=feed.expires_at)

    async def _report_problem(
        self,
        account: str | None,
        expires_at: int | None,
        reason: str,
        action: str,
        result: str | None,
    ) -> None:
        state = FeedState(ok=False, account=account, expires_at=expires_at, reason=reason,
                          action=action, ts=int(self._clock() * 1000))  # fmt: skip
        previous = await self.state()
        await self._redis.set(names.FEED_STATE, encode(state))
        self._metrics.set_feed(ok=False, expires_at=expires_at)
        changed = previous is None or previous.ok or previous.reason != reason
        if result is not None:
            log.error(
                "feed token renewal failed",
                extra={"account": account, "feed_ok": False, "result": result,
                       "reason": reason, "action": action, "retry_in": round(self._backoff, 1)},
            )  # fmt: skip
        elif changed:
            log.warning("feed token unavailable", extra={"feed_ok": False, "reason": reason,
                                                         "action": action})  # fmt: skip


def _refresh_lapse(credentials: FyersCredentials) -> int:
    """Epoch seconds at which ``credentials``' refresh token lapses (15 days after issue)."""
    issued = credentials.refresh_issued_at or credentials.updated_at
    return issued // 1000 + REFRESH_TOKEN_LIFETIME


def _explain_refusal(exc: FyersRefused, account: str) -> tuple[str, str]:
    """A reason and the operator's next step for a refused renewal."""
    text = exc.message.lower()
    if exc.code == -380 or "pin" in text:
        return (
            f"Fyers refused the PIN for {account} (code {exc.code})",
            f"AUTH_FEED_PIN is wrong: set it to the Fyers PIN of {account} and restart auth.",
        )
    if exc.code == -376 or "refresh" in text:
        return (
            f"Fyers refused the refresh token of {account} (expired or revoked; they last "
            f"about 15 days) (code {exc.code})",
            f"Sign in at /auth/login as {account}; auth renews on its own again afterwards.",
        )
    return (
        f"Fyers refused to renew the feed token (HTTP {exc.status}, code {exc.code}: "
        f"{exc.message})",
        f"Check the Fyers app (FYERS_CLIENT_ID, FYERS_SECRET_KEY) and the account {account} in "
        f"the Fyers dashboard, then sign in at /auth/login as {account}.",
    )
