"""Every Redis key and channel name LiveWebsocket uses, in one place.

The first block is the public contract (CONTRACT §4): internal services read these names
directly. The second block is private to the fleet (auth ↔ gateway ↔ ingestor); it may
change between releases.
"""

from __future__ import annotations

# --- public contract (CONTRACT §4) -------------------------------------------------------

#: pub/sub channel prefix; one Tick JSON per message.
TICK_CHANNEL_PREFIX = "md:tick:"
#: pub/sub channel prefix; one Depth JSON per message.
DEPTH_CHANNEL_PREFIX = "md:depth:"
#: hash: field = symbol, value = that symbol's latest Tick JSON.
LAST_TICKS = "md:last"
#: hash: field = symbol, value = that symbol's latest Depth JSON.
LAST_DEPTH = "md:depth:last"
#: pub/sub channel *and* string key of the same name: upstream feed state JSON.
STATUS = "md:status"
#: pub/sub channel prefix (v1.1); one Bar JSON per message: the symbol's open one-minute bar
#: (at most once a second) and once more with ``"final": true`` when the minute closes.
BAR_CHANNEL_PREFIX = "md:bar:1m:"
#: list key prefix (v1.1): the day's bars of one symbol, oldest first, the open one last
#: (replaced in place until final); bounded and expiring after the day.
BARS_KEY_PREFIX = "md:bars:1m:"


def tick_channel(symbol: str) -> str:
    """``md:tick:{SYMBOL}``."""
    return TICK_CHANNEL_PREFIX + symbol


def depth_channel(symbol: str) -> str:
    """``md:depth:{SYMBOL}``."""
    return DEPTH_CHANNEL_PREFIX + symbol


def bar_channel(symbol: str) -> str:
    """``md:bar:1m:{SYMBOL}``."""
    return BAR_CHANNEL_PREFIX + symbol


def bars_key(symbol: str) -> str:
    """``md:bars:1m:{SYMBOL}``."""
    return BARS_KEY_PREFIX + symbol


def symbol_of_channel(channel: str) -> str | None:
    """The symbol a tick or depth channel carries, or None for any other name."""
    for prefix in (TICK_CHANNEL_PREFIX, DEPTH_CHANNEL_PREFIX):
        if channel.startswith(prefix):
            return channel[len(prefix) :]
    return None


# --- private to the fleet ------------------------------------------------------------------

#: string key per gateway process: its current demand (DemandRecord JSON), with a TTL so a
#: dead gateway's demand fades on its own.
DEMAND_KEY_PREFIX = "md:demand:"
#: pub/sub channel: a gateway's instance id, published whenever its demand changed.
DEMAND_CHANGED = "md:demand"
#: hash: field = symbol, value = SymbolVerdict JSON (the ingestor's view of whether the
#: upstream knows that symbol).
SYMBOL_VERDICTS = "md:symbols"
#: pub/sub channel: one SymbolVerdict JSON per message, as verdicts are reached.
SYMBOL_VERDICT_CHANNEL = "md:symbols"
#: string key prefix: a negative verdict (SymbolVerdict JSON with ok = false), one key per
#: symbol, with a TTL (MARKETDATA_NEGATIVE_VERDICT_TTL) so junk symbols fade. Positive verdicts
#: stay in the SYMBOL_VERDICTS hash; a symbol has at most one of the two (the writer removes
#: the other). Written by the ingestor, read (GET/MGET) by gateways.
NEGATIVE_VERDICT_PREFIX = "md:symbols:no:"
#: string key: the ingestor leader's lease (value = holder id), with a TTL.
LEADER_LEASE = "md:leader"
#: integer key: fencing epoch, incremented on every new lease.
LEADER_EPOCH = "md:leader:epoch"

#: string key: the feed account's Fyers token, encrypted (FeedToken), kept by auth.
FEED_TOKEN = "auth:feed:token"
#: pub/sub channel: published (no secret in the message) whenever FEED_TOKEN changes.
FEED_TOKEN_CHANGED = "auth:feed:token"
#: pub/sub channel: the ingestor asks auth to renew the feed token now (the upstream said
#: it expired); the message is a short reason, never a secret.
FEED_TOKEN_RENEW = "auth:feed:renew"
#: string key: FeedState JSON — whether auth can keep the feed token fresh, and why not.
FEED_STATE = "auth:feed:state"
#: pub/sub channel: one Revocation JSON per revoked session; gateways disconnect it.
SESSION_REVOKED = "auth:revoked"
#: string key prefix: marks a revoked session id until its last access token expired.
REVOKED_SESSION_PREFIX = "auth:revoked:"


#: Per-user quotas, fleet-wide (written and read by gateways only; every key has a TTL).
#: sorted set per user: member = "{instance}|{sid}" of each open connection, score = lease
#: expiry (Redis time, ms); live gateways refresh their members, a dead one's fade.
USER_CONNECTIONS_PREFIX = "gw:conns:"
#: sorted set per user: member = symbol the user holds on some gateway, score = lease expiry.
USER_SYMBOLS_PREFIX = "gw:syms:"
#: integer key per user: unknown symbols probed upstream in the current window (TTL = window).
USER_PROBES_PREFIX = "gw:probes:"


def negative_verdict_key(symbol: str) -> str:
    return NEGATIVE_VERDICT_PREFIX + symbol


def _user_part(user: str, cluster: bool) -> str:
    # On a Redis Cluster a user's quota keys share the hash tag {user}: one script refreshes
    # gw:conns:{user} and gw:syms:{user} together. On one Redis the names stay untagged.
    return f"{{{user}}}" if cluster else user


def user_connections_key(user: str, cluster: bool = False) -> str:
    return USER_CONNECTIONS_PREFIX + _user_part(user, cluster)


def user_symbols_key(user: str, cluster: bool = False) -> str:
    return USER_SYMBOLS_PREFIX + _user_part(user, cluster)


def user_probes_key(user: str, cluster: bool = False) -> str:
    return USER_PROBES_PREFIX + _user_part(user, cluster)


def demand_key(instance: str) -> str:
    return DEMAND_KEY_PREFIX + instance


def revoked_session_key(sid: str, cluster: bool = False) -> str:
    """``auth:revoked:<sid>``; on a Cluster ``auth:revoked:{<sid>}``, in the slot of the
    session's own keys (auth's revocation transaction writes them together)."""
    return REVOKED_SESSION_PREFIX + (f"{{{sid}}}" if cluster else sid)


# --- Redis Cluster (CONTRACT §1 v1.1) -------------------------------------------------------
#
# Every public name above keeps its spelling on a Cluster. What changes there:
#
# - tick, depth and bar channels are *shard* channels (SPUBLISH / SSUBSCRIBE): each lives on
#   the shard that owns its slot. ``md:status`` and the private channels stay classic
#   (PUBLISH / SUBSCRIBE reach every node);
# - the keys one script touches must share a slot. The lease script touches the lease and its
#   epoch, so on a Cluster the epoch carries the lease's hash tag. The leader's fenced writes
#   (``md:last``, ``md:depth:last``, ``md:status``) cannot share the lease's slot without
#   renaming public keys, so each is fenced by a *fence key* in its own slot instead: the
#   highest epoch that wrote there (a fencing token; see livews_marketdata.lease).

#: Channel prefixes that are shard channels on a Redis Cluster.
SHARDED_CHANNEL_PREFIXES = (TICK_CHANNEL_PREFIX, DEPTH_CHANNEL_PREFIX, BAR_CHANNEL_PREFIX)
#: ``md:leader:epoch`` on a Cluster: hash-tagged to the lease's slot (one script sets both).
CLUSTER_LEADER_EPOCH = "md:leader:epoch{md:leader}"
#: Prefix of the fence keys on a Cluster (``md:fence{md:last}`` …): see above.
FENCE_KEY_PREFIX = "md:fence"


def is_sharded_channel(channel: str) -> bool:
    """Whether ``channel`` is published with SPUBLISH (read with SSUBSCRIBE) on a Cluster."""
    return channel.startswith(SHARDED_CHANNEL_PREFIXES)


def leader_epoch_key(cluster: bool) -> str:
    """The fencing epoch's key: ``md:leader:epoch``, hash-tagged on a Cluster."""
    return CLUSTER_LEADER_EPOCH if cluster else LEADER_EPOCH


def fence_key(key: str) -> str:
    """On a Cluster, the fence of the leader-written ``key``: in the same slot as ``key``."""
    return f"{FENCE_KEY_PREFIX}{{{key}}}"


#: The keys the leader writes under a fence on a Cluster, with their fence keys.
FENCED_KEYS = (LAST_TICKS, LAST_DEPTH, STATUS)
