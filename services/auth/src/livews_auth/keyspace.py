"""Redis keys private to the auth service (the shared names live in ``livews_common.names``).

No other process reads these. Per-session keys carry the session id in braces — a Redis
Cluster hash tag — so a session's record and its used-token set always share a slot and the
rotation script can touch both atomically.
"""

from __future__ import annotations

#: string key per pending login: LoginState JSON, short TTL, deleted on first use.
LOGIN_PREFIX = "auth:login:"
#: hash per session: sub, name, cur (hash of the current refresh secret), created, rotated.
SESSION_PREFIX = "auth:session:"
#: hash per Fyers user: name, sealed Fyers tokens, last sign-in.
USER_PREFIX = "auth:user:"
#: string key: in dev, the Fyers user id that claimed the feed (the first to sign in).
FEED_ACCOUNT = "auth:feed:account"
#: string key with a short TTL: the replica renewing the feed token right now.
FEED_LOCK = "auth:feed:lock"
#: string key with a TTL: set by whichever replica last checked the feed token with Fyers.
FEED_CHECKED = "auth:feed:checked"
#: string key with a TTL of AUTH_FEED_RENEW_MIN_INTERVAL: set after every successful feed-token
#: renewal; while it exists no replica renews again (the renewal throttle).
FEED_RENEWED = "auth:feed:renewed"
#: string key per (bucket, client address): request count in the current window.
RATE_PREFIX = "auth:rate:"


def login_key(state_hash: str) -> str:
    return LOGIN_PREFIX + state_hash


def session_key(sid: str) -> str:
    return f"{SESSION_PREFIX}{{{sid}}}"


def session_used_key(sid: str) -> str:
    return f"{SESSION_PREFIX}{{{sid}}}:used"


def user_key(fy_id: str) -> str:
    return USER_PREFIX + fy_id


def rate_key(bucket: str, client: str) -> str:
    return f"{RATE_PREFIX}{bucket}:{client}"
