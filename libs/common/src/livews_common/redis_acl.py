"""Redis users per role: the one table every ACL file and test harness is rendered from.

Redis is a trust boundary: whatever one process may write there, every other process
believes. So each part of the fleet connects as its own Redis user and may touch only the
keys, channels and commands it uses (docs/redis-contract.md, "Users and rights"):

``auth``        its ``auth:*`` keys and channels.
``marketdata``  its ``md:*`` keys and channels; reads the sealed feed token, asks auth to
                renew it.
``gateway``     its ``gw:*`` keys; writes its demand (``md:demand:*``, channel ``md:demand``);
                reads the market data and the revocation marks; subscribes, never publishes
                market data.
``consumer``    read-only: the public contract (CONTRACT §4) and nothing else.
``replica``     Redis's own replicas signing in to their primary (``masteruser``): the
                replication handshake and stream, no keys, no channels.
``sentinel``    Redis Sentinel watching the data nodes (``sentinel auth-user``): health,
                its hello channel and the failover commands; no keys.
``admin``       operators and test fixtures: everything.

The ``default`` user is switched off. Key patterns go by owner prefix (``auth:``, ``md:``,
``gw:``), so a key a service adds under its own prefix needs no change here; a new command
does (add it below; ``tests`` fail with ``NOPERM`` until it is).

Rendering: :func:`acl_template` is the checked-in ``infra/redis/users.acl`` (rights, no
passwords); :func:`acl_file` adds a password hash per user; :func:`setuser_commands` gives the
``ACL SETUSER`` argument lists. ``python -m livews_common.redis_acl --help`` for the CLI.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from livews_common import names

#: Redis user names, one per role.
AUTH = "auth"
MARKETDATA = "marketdata"
GATEWAY = "gateway"
CONSUMER = "consumer"
REPLICA = "replica"
SENTINEL = "sentinel"
ADMIN = "admin"

# Connection housekeeping every user needs. SELECT: tests give each test its own database
# number. (redis-py also sends CLIENT SETINFO, new in Redis 7.2, and ignores a refusal.)
_CONNECTION = ("ping", "select", "hello", "client|setname", "reset", "quit")
# What redis-py's cluster client asks any node when it starts or follows a slot move: the slot
# map and the command table (to find each command's keys). Harmless on a single Redis.
_CLUSTER_CLIENT = ("cluster|slots", "command")
# redis-py's registered scripts: EVALSHA, then SCRIPT LOAD on NOSCRIPT (SCRIPT EXISTS from a
# pipeline). Inside a script every redis.call is checked against the same user's rights.
_SCRIPTS = ("eval", "evalsha", "script|load", "script|exists")
_SUBSCRIBER = ("subscribe", "unsubscribe")
# Sharded pub/sub (tick, depth and bar channels on a Redis Cluster; CONTRACT §1 v1.1).
_SHARD_SUBSCRIBER = ("ssubscribe", "sunsubscribe")
_TRANSACTIONS = ("multi", "exec", "discard")
# Data commands a writer may use on its own prefix: strings and counters, hashes, sets,
# sorted sets (windows), expiry. Deliberately absent everywhere but admin: KEYS, SCAN
# (except marketdata), FLUSH*, CONFIG, DEBUG, MONITOR, ACL, SHUTDOWN, MODULE, FUNCTION,
# OBJECT, MIGRATE, RENAME, COPY, SORT, CLIENT KILL/LIST, PUBSUB (the sentinel user alone
# has CONFIG REWRITE and CLIENT KILL, which a failover sends).
_OWN_PREFIX_DATA = (
    "get", "set", "getdel", "mget", "del", "unlink", "exists", "incr", "incrby", "decr",
    "decrby", "expire", "pexpire", "ttl", "pttl",
    "hget", "hset", "hdel", "hmget", "hgetall", "hlen", "hexists", "hincrby", "hscan",
    "sadd", "srem", "sismember", "scard", "smembers",
    "zadd", "zrem", "zcard", "zcount", "zrange", "zrangebyscore", "zremrangebyscore",
    "zscore", "time",
    "rpush", "lrange", "ltrim", "llen",
)  # fmt: skip
# What reading the public contract takes: the hashes, the status key, the bars list or
# stream, and (P)SUBSCRIBE.
_CONTRACT_READ = (
    "get", "mget", "exists", "type", "ttl", "pttl",
    "hget", "hmget", "hgetall", "hkeys", "hlen", "hexists", "hscan",
    "lrange", "llen", "xrange", "xrevrange", "xlen", "xread",
)  # fmt: skip

#: The channel Sentinels announce themselves on, on every node they watch.
SENTINEL_HELLO_CHANNEL = "__sentinel__:hello"
# What a Sentinel sends a data node (redis.io, "ACL rules for Sentinel and Replicas").
_SENTINEL = (
    "ping", "info", "role", "multi", "exec", "publish", "subscribe",
    "client|setname", "client|kill", "config|rewrite", "slaveof", "script|kill",
)  # fmt: skip

# Public contract (CONTRACT §4), as key patterns and channel patterns.
BARS_KEY_PATTERN = "md:bars:1m:*"
BAR_CHANNEL_PATTERN = "md:bar:1m:*"
CONTRACT_KEYS = (names.LAST_TICKS, names.LAST_DEPTH, names.STATUS, BARS_KEY_PATTERN)
CONTRACT_CHANNELS = (
    names.TICK_CHANNEL_PREFIX + "*",
    names.DEPTH_CHANNEL_PREFIX + "*",
    BAR_CHANNEL_PATTERN,
    names.STATUS,
)


@dataclass(frozen=True)
class Selector:
    """A Redis 7 ACL selector: extra (command, key, channel) rights that apply together."""

    commands: tuple[str, ...]
    keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def rules(self) -> list[str]:
        return [*self.keys, "resetchannels", *(f"&{c}" for c in self.channels),
                "-@all", *(f"+{c}" for c in sorted(set(self.commands)))]  # fmt: skip


@dataclass(frozen=True)
class Role:
    """One Redis user: what it is for, and its rights (Redis 7.0 ACL syntax).

    ``keys`` are ACL key rules (``~pat`` read-write, ``%R~pat`` read, ``%W~pat`` write);
    ``channels`` are channel patterns (for SUBSCRIBE *and* PUBLISH — Redis does not tell
    them apart, so a role that only listens has no PUBLISH command at all and publishes, if
    ever, through a ``selectors`` entry naming exactly its own channels).
    """

    name: str
    purpose: str
    commands: tuple[str, ...]
    keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    selectors: tuple[Selector, ...] = field(default_factory=tuple)

    def rules(self) -> list[str]:
        out = ["reset", "on", *self.keys, "resetchannels", *(f"&{c}" for c in self.channels),
               "-@all", *(f"+{c}" for c in sorted(set(self.commands)))]  # fmt: skip
        out += [f"({' '.join(s.rules())})" for s in self.selectors]
        return out


ROLES: tuple[Role, ...] = (
    Role(
        AUTH,
        "livews-auth: sessions, logins, users, rate windows, the feed token and its state",
        commands=(
            *_CONNECTION,
            *_CLUSTER_CLIENT,
            *_SCRIPTS,
            *_TRANSACTIONS,
            *_OWN_PREFIX_DATA,
            *_SUBSCRIBER,
            "publish",
        ),
        keys=("~auth:*",),
        channels=("auth:*",),
    ),
    Role(
        MARKETDATA,
        "livews-marketdata: md:* (ticks, depth, status, verdicts, lease, bars); reads "
        "every gateway's demand and the sealed feed token; asks auth to renew it",
        commands=(
            *_CONNECTION,
            *_CLUSTER_CLIENT,
            *_SCRIPTS,
            *_TRANSACTIONS,
            *_OWN_PREFIX_DATA,
            *_SUBSCRIBER,
            "publish",
            "spublish",
            "scan",
            "xadd",
            "xtrim",
            # One-minute bars (md:bars:1m:*): replace the open bar, expire after the day.
            "lindex",
            "lset",
            "expireat",
        ),
        keys=("~md:*", f"%R~{names.FEED_TOKEN}"),
        channels=("md:*", names.FEED_TOKEN_CHANGED, names.FEED_TOKEN_RENEW),
    ),
    Role(
        GATEWAY,
        "livews-gateway: gw:* keys; its demand; reads market data, verdicts and revocation "
        "marks; subscribes to market data, verdicts and revocations",
        commands=(
            *_CONNECTION,
            *_CLUSTER_CLIENT,
            *_SCRIPTS,
            *_TRANSACTIONS,
            *_OWN_PREFIX_DATA,
            *_CONTRACT_READ,
            *_SUBSCRIBER,
            *_SHARD_SUBSCRIBER,
        ),
        keys=(
            "~gw:*",
            f"%W~{names.DEMAND_KEY_PREFIX}*",
            *(f"%R~{k}" for k in CONTRACT_KEYS),
            f"%R~{names.SYMBOL_VERDICTS}",
            # Per-symbol verdict keys the ingestor may keep beside the hash (md:symbols:no:*).
            f"%R~{names.SYMBOL_VERDICTS}:*",
            f"%R~{names.REVOKED_SESSION_PREFIX}*",
        ),
        channels=(
            *CONTRACT_CHANNELS,
            names.SYMBOL_VERDICT_CHANNEL,
            names.SESSION_REVOKED,
            "gw:*",
        ),
        selectors=(
            # Its only publications: "my demand changed", and its own gw:* channels.
            Selector(("publish",), channels=(names.DEMAND_CHANGED, "gw:*")),
        ),
    ),
    Role(
        CONSUMER,
        "internal services: read-only access to the public contract (CONTRACT §4)",
        commands=(
            *_CONNECTION,
            *_CLUSTER_CLIENT,
            *_CONTRACT_READ,
            *_SUBSCRIBER,
            *_SHARD_SUBSCRIBER,
            "psubscribe",
            "punsubscribe",
        ),
        keys=tuple(f"%R~{k}" for k in CONTRACT_KEYS),
        channels=CONTRACT_CHANNELS,
    ),
    # Redis's own processes, with the rights redis.io's ACL page ("ACL rules for Sentinel and
    # Replicas") gives them. A replica signs in to its primary (masteruser/masterauth) and
    # runs the replication handshake and stream; it reads no key through ACL-checked commands.
    Role(
        REPLICA,
        "Redis replicas syncing from their primary (masteruser): replication only, no keys",
        commands=("psync", "replconf", "ping"),
    ),
    # A Sentinel's two connections to every data node: the command one (PING, INFO, ROLE,
    # PUBLISH of its hello; at a failover MULTI, SLAVEOF, CONFIG REWRITE, CLIENT KILL of the
    # old clients, EXEC; SCRIPT KILL of a busy script) and the one SUBSCRIBEd to the hello
    # channel. Both are named with CLIENT SETNAME. SLAVEOF is what Sentinel sends (REPLICAOF
    # is a separate command in the ACL table and is not needed).
    Role(
        SENTINEL,
        "Redis Sentinel monitoring the data nodes (sentinel auth-user): health, hello "
        "channel, failover; no keys",
        commands=_SENTINEL,
        channels=(SENTINEL_HELLO_CHANNEL,),
    ),
    Role(
        ADMIN,
        "operators and test fixtures: everything (keep its password with the operators)",
        commands=("@all",),
        keys=("~*",),
        channels=("*",),
    ),
)

#: The users services connect as.
SERVICE_ROLES = (AUTH, MARKETDATA, GATEWAY, CONSUMER)
#: The users Redis's own processes connect as (replicas to their primary; Sentinels).
INFRA_ROLES = (REPLICA, SENTINEL)
ROLE_NAMES = tuple(r.name for r in ROLES)


def role(name: str) -> Role:
    for r in ROLES:
        if r.name == name:
            return r
    raise KeyError(f"no Redis role {name!r} (roles: {', '.join(ROLE_NAMES)})")


def password_hash(password: str) -> str:
    """The ``#<sha256>`` form Redis ACL files accept instead of a clear password."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


_DEFAULT_OFF = "user default reset off resetchannels -@all"


def acl_template() -> str:
    """Every user's rights, no passwords: the checked-in ``infra/redis/users.acl``."""
    # Redis ACL files allow no comments: the provenance is in docs/redis-contract.md.
    lines = [_DEFAULT_OFF]
    lines += [f"user {r.name} {' '.join(r.rules())}" for r in ROLES]
    return "\n".join(lines) + "\n"


def acl_file(passwords: Mapping[str, str]) -> str:
    """An ACL file for ``redis-server --aclfile``: the template plus a hash per user.

    A role without a password in ``passwords`` is left switched off.
    """
    out = []
    for line in acl_template().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "user" and parts[1] != "default":
            password = passwords.get(parts[1])
            line = (
                f"{line} {password_hash(password)}"
                if password
                else line.replace(" on ", " off ", 1)
            )
        out.append(line)
    return "\n".join(out) + "\n"


def setuser_commands(passwords: Mapping[str, str]) -> list[list[str]]:
    """``ACL SETUSER`` argument lists (without ``ACL SETUSER``) for a live server."""
    cmds = [["default", "reset", "off", "resetchannels", "-@all"]]
    for r in ROLES:
        password = passwords.get(r.name)
        rules = r.rules()
        if password:
            rules.append(password_hash(password))
        else:
            rules[1] = "off"
        cmds.append([r.name, *rules])
    return cmds


def _read_passwords(directory: Path) -> dict[str, str]:
    """``<dir>/redis-<role>-password`` files, as init.sh writes them."""
    found = {}
    for name in ROLE_NAMES:
        path = directory / f"redis-{name}-password"
        if path.exists():
            found[name] = path.read_text().strip()
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livews_common.redis_acl",
        description="Render the LiveWebsocket Redis ACL users (docs/redis-contract.md).",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("template", help="rights only, no passwords (infra/redis/users.acl)")
    render = sub.add_parser("render", help="an --aclfile with password hashes")
    render.add_argument("passwords_dir", type=Path,
                        help="directory holding redis-<role>-password files")  # fmt: skip
    args = parser.parse_args(argv)
    if args.cmd == "template":
        sys.stdout.write(acl_template())
        return 0
    passwords = _read_passwords(args.passwords_dir)
    if not passwords:
        sys.stderr.write(f"no redis-<role>-password files in {args.passwords_dir}\n")
        return 2
    sys.stdout.write(acl_file(passwords))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
