"""Feed-token custody against the emulator: publish, renew (asked, periodic, before expiry),
and failures that are reported — in auth:feed:state, /readyz, /metrics and the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from auth_harness import prod_env, wait_for

from livews_common import names
from livews_common.feedtoken import FeedToken, load_token_cipher
from livews_common.models import FeedState, decode
from livews_devtools.fleet_auth import AuthService, signed_in, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn, start_emulator


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


class Feed:
    """Reads what auth publishes for the ingestor, as the ingestor would."""

    def __init__(self, store: redis.Redis, auth: AuthService) -> None:
        self.store = store
        self.auth = auth
        self.cipher = load_token_cipher("dev", Path(auth.env["LIVEWS_STATE_DIR"]))

    def token(self) -> FeedToken | None:
        sealed = self.store.get(names.FEED_TOKEN)
        return self.cipher.open(sealed) if sealed else None

    def state(self) -> FeedState | None:
        raw = self.store.get(names.FEED_STATE)
        return decode(raw, FeedState) if raw else None

    def changed_from(self, old: FeedToken) -> FeedToken | None:
        new = self.token()
        return new if new and new.access_token != old.access_token else None

    def metric(self, line_start: str) -> float | None:
        for line in httpx.get(f"{self.auth.url}/metrics").text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
        return None


def works_at_fyers(emulator: Emulator, feed: FeedToken) -> bool:
    # The ingestor's use of the token: APPID:TOKEN, exactly as stored.
    profile = httpx.get(
        f"{emulator.api_base}/profile", headers={"Authorization": feed.access_token}
    )
    return profile.status_code == 200


def signed_in_feed(auth: AuthService, store: redis.Redis, fy_id: str = "XA00001") -> Feed:
    feed = Feed(store, auth)
    with signed_in(auth.url, fy_id):
        pass
    wait_for(feed.token, what="the feed token")
    return feed


def test_first_sign_in_becomes_the_feed_account(
    auth_service: AuthService, store: redis.Redis, emulator: Emulator
) -> None:
    feed = Feed(store, auth_service)
    waiting = wait_for(feed.state, what="the initial feed state")
    assert not waiting.ok and waiting.action and "/auth/login" in waiting.action
    ready = httpx.get(f"{auth_service.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["feed"]["ok"] is False

    pubsub = store.pubsub()
    pubsub.subscribe(names.FEED_TOKEN_CHANGED)
    with signed_in(auth_service.url, "XA00001"), pubsub:
        token = wait_for(feed.token, what="the feed token")
        assert token.account == "XA00001"
        assert token.access_token.startswith(emulator.client_id + ":")
        assert token.expires_at > time.time() + 3600
        assert works_at_fyers(emulator, token)
        state = feed.state()
        assert state and state.ok and state.account == "XA00001"
        assert state.expires_at == token.expires_at

        def notice() -> dict[str, object] | None:
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                doc: dict[str, object] = orjson.loads(message["data"])
                return doc
            return None

        got = wait_for(notice, what="the change notice")
        assert got["account"] == "XA00001" and got["expires_at"] == token.expires_at
        raw = store.get(names.FEED_TOKEN)
        assert raw and token.access_token.split(":")[1].encode() not in raw, "sealed at rest"

    with signed_in(auth_service.url, "XB00002"):
        pass
    assert feed.token() == token, "a later user does not take over the feed"
    assert httpx.get(f"{auth_service.url}/readyz").json()["checks"]["feed"]["ok"] is True
    assert feed.metric("livews_auth_feed_ok") == 1.0
    ttl = feed.metric("livews_auth_feed_token_ttl_seconds")
    assert ttl is not None and ttl > 3600
    # The refresh token was issued at this sign-in: ~15 days left (the alert warns 3 days ahead).
    refresh = feed.metric("livews_auth_feed_refresh_token_expiry_seconds")
    print(f"\nBOUND refresh token lifetime left after sign-in: {refresh} s")
    assert refresh is not None and 15 * 86400 - 600 < refresh <= 15 * 86400


def test_renews_when_the_ingestor_reports_the_token_expired(
    auth_service: AuthService, store: redis.Redis, emulator: Emulator
) -> None:
    feed = signed_in_feed(auth_service, store)
    old = feed.token()
    assert old and works_at_fyers(emulator, old)
    emulator.admin("expire-tokens")
    assert not works_at_fyers(emulator, old)

    store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")
    new = wait_for(lambda: feed.changed_from(old), what="a renewed feed token")
    assert works_at_fyers(emulator, new) and new.account == "XA00001"
    assert new.issued_at > old.issued_at
    state = feed.state()
    assert state and state.ok
    assert feed.metric('livews_auth_feed_renewals_total{result="ok"}') == 1.0


def test_a_periodic_check_notices_a_dead_token(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_FEED_CHECK_INTERVAL="0.5")
    feed = signed_in_feed(auth, store)
    old = feed.token()
    assert old
    emulator.admin("expire-tokens")  # nobody tells auth
    new = wait_for(lambda: feed.changed_from(old), what="renewal after a failed check")
    assert works_at_fyers(emulator, new)


def test_renews_before_expiry(
    spawn: Spawn, tmp_path: Path, redis_url: str, store: redis.Redis
) -> None:
    emulator = start_emulator(spawn, tmp_path, EMULATOR_ACCESS_TTL="4")
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_FEED_RENEW_MARGIN="900")
    feed = signed_in_feed(auth, store)
    old = feed.token()
    assert old and old.expires_at - time.time() <= 4
    # The margin is capped at half a token's life, so this one is renewed ~2 s before expiry.
    new = wait_for(lambda: feed.changed_from(old), timeout=10, what="renewal before expiry")
    assert works_at_fyers(emulator, new)
    assert time.time() < old.expires_at + 1


def test_a_wrong_pin_is_reported_with_what_to_do(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(
        spawn, tmp_path, redis_url, emulator, AUTH_FEED_PIN="9999", AUTH_READY_REQUIRES_FEED="true"
    )
    feed = signed_in_feed(auth, store)
    assert httpx.get(f"{auth.url}/readyz").status_code == 200
    emulator.admin("expire-tokens")
    store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")

    state = wait_for(lambda: (s := feed.state()) and not s.ok and s, what="a failed state")
    assert state.account == "XA00001" and state.reason and "PIN" in state.reason
    assert state.action and "AUTH_FEED_PIN" in state.action
    ready = httpx.get(f"{auth.url}/readyz")
    assert ready.status_code == 503
    assert (
        "PIN" in ready.json()["reason"]
        and "AUTH_FEED_PIN" in ready.json()["checks"]["feed"]["action"]
    )
    assert feed.metric("livews_auth_feed_ok") == 0.0
    assert feed.metric('livews_auth_feed_renewals_total{result="refused"}') == 1.0
    log = wait_for(
        lambda: (t := auth.log_path.read_text()) and "feed token renewal failed" in t and t,
        what="the failure in the log",
    )
    assert "AUTH_FEED_PIN is wrong" in log


def test_refused_renewal_is_retried_and_recovers(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_FEED_RETRY_MAX="1")
    feed = signed_in_feed(auth, store)
    old = feed.token()
    assert old
    emulator.admin("refuse-auth", on=True)
    emulator.admin("expire-tokens")
    store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")
    failed = wait_for(lambda: (s := feed.state()) and not s.ok and s, what="a failed state")
    assert failed.reason and "refused" in failed.reason
    assert failed.action and "/auth/login" in failed.action
    readyz = httpx.get(f"{auth.url}/readyz").json()
    assert readyz["checks"]["feed"]["ok"] is False and readyz["reason"].startswith("feed token:")

    emulator.admin("refuse-auth", on=False)
    new = wait_for(lambda: feed.changed_from(old), what="recovery after refuse-auth ends")
    assert works_at_fyers(emulator, new)
    recovered = wait_for(lambda: (s := feed.state()) and s.ok and s, what="an ok state")
    assert recovered.reason is None
    assert (feed.metric('livews_auth_feed_renewals_total{result="refused"}') or 0) >= 1


def test_a_configured_feed_account_is_the_only_one(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, AUTH_FEED_ACCOUNT="XB00002")
    feed = Feed(store, auth)
    with signed_in(auth.url, "XA00001"):
        pass
    state = wait_for(
        lambda: (s := feed.state()) and s.account == "XB00002" and s, what="the waiting state"
    )
    assert not state.ok and state.action == "Sign in at /auth/login as XB00002."
    assert feed.token() is None
    with signed_in(auth.url, "XB00002"):
        pass
    assert wait_for(feed.token, what="the feed token").account == "XB00002"


def test_prod_without_a_feed_account_says_so(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator, **prod_env(tmp_path))
    state = wait_for(Feed(store, auth).state, what="the initial state")
    assert not state.ok and state.reason == "AUTH_FEED_ACCOUNT is not set"
    assert state.action and "AUTH_FEED_ACCOUNT" in state.action


def test_two_replicas_renew_once(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    first = start_auth(spawn, tmp_path, redis_url, emulator, name="auth-a")
    second = start_auth(spawn, tmp_path, redis_url, emulator, name="auth-b")
    feed = signed_in_feed(first, store)
    old = feed.token()
    assert old
    emulator.admin("expire-tokens")
    store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")
    new = wait_for(lambda: feed.changed_from(old), what="a renewed feed token")
    assert works_at_fyers(emulator, new)

    def renewals(auth: AuthService) -> float:
        return Feed(store, auth).metric('livews_auth_feed_renewals_total{result="ok"}') or 0.0

    # One replica renewed; the other saw the request served (its log says so) and did not.
    wait_for(
        lambda: any("already served" in a.log_path.read_text() for a in (first, second)),
        what="the other replica to stand down",
    )
    assert renewals(first) + renewals(second) == 1.0
    assert feed.token() == new


def test_a_renew_flood_while_the_token_works_spends_nothing(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    auth = start_auth(spawn, tmp_path, redis_url, emulator)
    feed = signed_in_feed(auth, store)
    old = feed.token()
    assert old
    with store.pipeline(transaction=False) as pipe:
        for _ in range(200):
            pipe.publish(names.FEED_TOKEN_RENEW, "upstream: token expired (forged)")
        pipe.execute()
    wait_for(lambda: (feed.metric("livews_auth_feed_renew_requests_total") or 0) >= 200,
             what="auth to receive 200 requests")  # fmt: skip
    alive = 'livews_auth_feed_renew_ignored_total{reason="token_alive"}'
    wait_for(lambda: feed.metric(alive), what="auth to ask Fyers")
    time.sleep(1.0)
    checks = feed.metric(alive) or 0
    renewed = feed.metric('livews_auth_feed_renewals_total{result="ok"}') or 0
    print(
        f"\nBOUND 200 renew requests, live token: {checks:.0f} profile checks, renewals "
        f"{renewed:.0f}"
    )
    assert 1 <= checks <= 2  # coalesced into one check (per 5 s), not 200
    assert renewed == 0
    assert feed.token() == old


def test_renewals_are_at_least_the_min_interval_apart(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, store: redis.Redis
) -> None:
    interval = 8.0
    auth = start_auth(spawn, tmp_path, redis_url, emulator,
                      AUTH_FEED_RENEW_MIN_INTERVAL=str(interval))  # fmt: skip
    feed = signed_in_feed(auth, store)
    old = feed.token()
    assert old
    emulator.admin("expire-tokens")
    store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")
    first = wait_for(lambda: feed.changed_from(old), what="the first renewal")
    first_at = time.monotonic()
    emulator.admin("expire-tokens")  # dead again at once
    for _ in range(6):
        store.publish(names.FEED_TOKEN_RENEW, "upstream: token expired")
        time.sleep(0.5)
    throttled = 'livews_auth_feed_renew_ignored_total{reason="throttled"}'
    wait_for(lambda: feed.metric(throttled), what="a deferred renewal")
    assert feed.token() == first
    second = wait_for(lambda: feed.changed_from(first), timeout=interval + 15,
                      what="the renewal after the interval")  # fmt: skip
    gap = time.monotonic() - first_at
    print(f"\nBOUND second renewal {gap:.1f}s after the first (interval {interval:.0f}s)")
    assert gap >= interval - 1.0
    assert works_at_fyers(emulator, second)
    assert feed.metric('livews_auth_feed_renewals_total{result="ok"}') == 2.0
