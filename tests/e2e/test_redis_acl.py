"""Redis least privilege, against a running fleet: every process runs as its own ACL user,
and each user is refused what the issue's attacks needed (issue #12 item 4).

The fleet is shared by the module. Each refusal is tried for real on the fleet's Redis and
printed (``REFUSED role: command -> error``); every role also does one thing it is allowed
(so a broken connection cannot pass for a refusal), and the fleet still works afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from livews_common import names, redis_acl, redisconn
from livews_devtools.fleet import Fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "redis-contract.md"
DOC_URL = "redis://consumer:<password>@redis:6379/0"
CLUSTER_DOC_URL = "redis://consumer:<password>@redis-0:6379"
SYMBOL = "NSE:SBIN-EQ"


@pytest.fixture(scope="module")
def acl_fleet(shared_fleet: Fleet) -> Fleet:
    if not shared_fleet.redis.acl:
        pytest.skip(f"{shared_fleet.redis.binary} is older than Redis 7.0: no ACL users")
    return shared_fleet


@pytest.fixture(scope="module")
def clients(acl_fleet: Fleet) -> Iterator[dict[str, redis.Redis]]:
    made = {
        role: redisconn.connect_sync(acl_fleet.redis_role_url(role), socket_timeout=5)
        for role in redis_acl.SERVICE_ROLES
    }
    made["admin"] = redisconn.connect_sync(acl_fleet.redis_url, socket_timeout=5)
    try:
        yield made
    finally:
        for client in made.values():
            client.close()


@pytest.fixture(scope="module")
def session_key(acl_fleet: Fleet, clients: dict[str, redis.Redis]) -> str:
    """A real ``auth:session:*`` key (a user signed in through nginx)."""
    acl_fleet.login("XA00042")
    found = [k.decode() for k in clients["admin"].scan_iter(match="auth:session:*", count=1000)]
    sessions = [k for k in found if not k.endswith(":used")]
    assert sessions, "signing in made no auth:session:* key"
    key: str = sessions[0]
    return key


def refused(role: str, what: str, call: Callable[[], Any]) -> str:
    """Run ``call`` and require Redis to refuse it for lack of permission; print it."""
    with pytest.raises(redis.exceptions.NoPermissionError) as info:
        call()
    print(f"\nREFUSED {role}: {what} -> {str(info.value)[:70]}")
    return str(info.value)


def refused_subscribe(client: redis.Redis, role: str, channel: str, *, pattern: bool) -> None:
    """(P)SUBSCRIBE sends without waiting; the refusal arrives as the next reply."""
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]

    def attempt() -> None:
        (pubsub.psubscribe if pattern else pubsub.subscribe)(channel)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message is not None and "subscribe" in str(message.get("type")):
                return  # subscribed: not refused (pytest.raises then fails)

    try:
        refused(role, f"{'PSUBSCRIBE' if pattern else 'SUBSCRIBE'} {channel}", attempt)
    finally:
        pubsub.close()


def _node_admin(fleet: Fleet, port: int) -> redis.Redis:
    """A plain admin connection to one data node (a Cluster's or a Sentinel set's)."""
    user, password = redisconn.credentials(fleet.redis_url)
    return redis.Redis(port=port, username=user, password=password, socket_timeout=5)


def _node_role(fleet: Fleet, port: int, role: str) -> redis.Redis:
    """A plain connection to one data node as ``role`` (replica and sentinel have no
    CLUSTER SLOTS, so no cluster client: a node answers NOPERM before any MOVED)."""
    user, password = redisconn.credentials(fleet.redis_role_url(role))
    return redis.Redis(port=port, username=user, password=password, socket_timeout=5)


def _live_ports(fleet: Fleet) -> list[int]:
    """The data nodes that run (a fault test may have killed one on purpose)."""
    topology: Any = fleet.redis
    return [n.port for n in getattr(topology, "nodes", [topology]) if n.running]


def _listed(fleet: Fleet) -> list[dict[str, Any]]:
    """CLIENT LIST of every data node, each entry tagged with its node's port."""
    found: list[dict[str, Any]] = []
    for port in _live_ports(fleet):
        node = _node_admin(fleet, port)
        try:
            own = node.client_id()
            found += [{**c, "node": port} for c in node.client_list() if int(c["id"]) != own]
        finally:
            node.close()
    return found


def test_every_process_connects_as_its_own_role_user(acl_fleet: Fleet) -> None:
    """CLIENT LIST on every data node: the services' connections are auth / marketdata /
    gateway, Redis's own replicas sign in as ``replica`` and the Sentinels as ``sentinel``;
    nothing named runs as admin, nothing as default."""
    listed = _listed(acl_fleet)
    users = Counter(c["user"] for c in listed)
    print(f"\nBOUND redis connections by user (all data nodes): {dict(users)}")
    # Each gateway keeps a command and a subscriber connection; each ingestor at least one.
    assert users[redis_acl.GATEWAY] >= 2 * acl_fleet.n_gateways, users
    assert users[redis_acl.MARKETDATA] >= acl_fleet.n_ingestors, users
    assert users[redis_acl.AUTH] >= 1, users
    # Nothing of the fleet, nor of Redis's own processes, runs as admin (the test's own
    # fixtures may, unnamed), none as default.
    assert users["default"] == 0, users
    named_admin = [c for c in listed if c["user"] == redis_acl.ADMIN and c.get("name", "")]
    assert not named_admin, named_admin
    # A replica's link to its primary (flag S) and a Sentinel's connections (named
    # sentinel-<id>-cmd / -pubsub) run as their own users.
    links = [c for c in listed if "S" in c["flags"]]
    assert all(c["user"] == redis_acl.REPLICA for c in links), links
    watchers = [c for c in listed if c.get("name", "").startswith("sentinel-")]
    assert all(c["user"] == redis_acl.SENTINEL for c in watchers), watchers
    topology: Any = acl_fleet.redis
    live = len(_live_ports(acl_fleet))
    assert len(links) >= live - getattr(topology, "primaries", 1), links
    sentinels = [s for s in getattr(topology, "sentinels", ()) if s.running]
    # Each Sentinel keeps a command and a hello-subscriber connection on every data node.
    assert len(watchers) >= 2 * len(sentinels) * live, watchers


def test_the_default_user_is_refused(acl_fleet: Fleet) -> None:
    """On every data node (a Cluster's six, a Sentinel set's primary and replicas)."""
    for port in acl_fleet.redis.ports:
        anonymous = redis.Redis(port=port, socket_timeout=5)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError) as info:
                anonymous.ping()
            print(f"\nREFUSED default (no password) on :{port}: PING -> {str(info.value)[:60]}")
            with pytest.raises(redis.exceptions.AuthenticationError):
                anonymous.execute_command("AUTH", "default", "")  # type: ignore[no-untyped-call]
            print(f"\nREFUSED default on :{port}: AUTH default '' -> user is off")
        finally:
            anonymous.close()


def test_gateway_user_cannot_read_sessions_nor_publish_market_data(
    clients: dict[str, redis.Redis], session_key: str
) -> None:
    gw = clients[redis_acl.GATEWAY]
    refused("gateway", f"GET {session_key}", lambda: gw.get(session_key))
    refused("gateway", f"HGETALL {session_key}", lambda: gw.hgetall(session_key))
    refused("gateway", "SCAN 0 MATCH auth:session:*", lambda: gw.scan(0, match="auth:session:*"))
    refused("gateway", "KEYS auth:*", lambda: gw.keys("auth:*"))
    refused("gateway", "HSET auth:session:{forged} sub XA00001",
            lambda: gw.hset("auth:session:{forged}", "sub", "XA00001"))  # fmt: skip
    forged_tick = json.dumps({"symbol": SYMBOL, "seq": 2**53 - 1})
    refused("gateway", f"PUBLISH md:tick:{SYMBOL} <seq 2**53-1>",
            lambda: gw.publish(names.tick_channel(SYMBOL), forged_tick))  # fmt: skip
    refused("gateway", f"SPUBLISH md:tick:{SYMBOL} <seq 2**53-1>", lambda: gw.execute_command(
        "SPUBLISH", names.tick_channel(SYMBOL), forged_tick))  # fmt: skip
    refused("gateway", f"HSET md:last {SYMBOL} <invalid UTF-8>",
            lambda: gw.hset(names.LAST_TICKS, SYMBOL, b"\xff\xfe"))  # fmt: skip
    refused("gateway", "PUBLISH auth:feed:renew", lambda: gw.publish(names.FEED_TOKEN_RENEW, "x"))
    refused("gateway", "GET auth:feed:token", lambda: gw.get(names.FEED_TOKEN))
    # What it needs does work: the last values, and its own demand key (written, not read).
    assert gw.hmget(names.LAST_TICKS, [SYMBOL])[0] is not None
    assert gw.exists(names.revoked_session_key("nobody")) == 0
    refused("gateway", "GET md:demand:<another gateway>", lambda: gw.get("md:demand:gw1"))


def test_consumer_user_is_read_only(clients: dict[str, redis.Redis], session_key: str) -> None:
    consumer = clients[redis_acl.CONSUMER]
    refused("consumer", f"PUBLISH md:tick:{SYMBOL}",
            lambda: consumer.publish(names.tick_channel(SYMBOL), "{}"))  # fmt: skip
    refused("consumer", f"SPUBLISH md:tick:{SYMBOL}", lambda: consumer.execute_command(
        "SPUBLISH", names.tick_channel(SYMBOL), "{}"))  # fmt: skip
    refused("consumer", f"HSET md:last {SYMBOL}",
            lambda: consumer.hset(names.LAST_TICKS, SYMBOL, "{}"))  # fmt: skip
    refused("consumer", "SET md:status", lambda: consumer.set(names.STATUS, "{}"))
    refused("consumer", "DEL md:last", lambda: consumer.delete(names.LAST_TICKS))
    refused("consumer", f"HGETALL {session_key}", lambda: consumer.hgetall(session_key))
    refused("consumer", "GET auth:feed:token", lambda: consumer.get(names.FEED_TOKEN))
    refused("consumer", "GET md:leader", lambda: consumer.get(names.LEADER_LEASE))
    refused("consumer", "PUBLISH auth:feed:renew",
            lambda: consumer.publish(names.FEED_TOKEN_RENEW, "x"))  # fmt: skip
    refused("consumer", "SCAN 0", lambda: consumer.scan(0))
    refused_subscribe(consumer, "consumer", names.SESSION_REVOKED, pattern=False)
    refused_subscribe(consumer, "consumer", "auth:*", pattern=True)
    refused_subscribe(consumer, "consumer", "*", pattern=True)
    # What it is for does work, the same way (so the refusals above are not a broken client).
    pubsub = consumer.pubsub()  # type: ignore[no-untyped-call]
    try:
        pubsub.psubscribe(names.TICK_CHANNEL_PREFIX + "*")
        first = pubsub.get_message(timeout=5)
        assert first is not None and first["type"] == "psubscribe", first
    finally:
        pubsub.close()
    assert consumer.hget(names.LAST_TICKS, SYMBOL) is not None
    assert json.loads(consumer.get(names.STATUS) or b"{}").get("upstream") in ("up", "degraded")


def test_marketdata_user_cannot_touch_sessions_nor_revoke(
    clients: dict[str, redis.Redis], session_key: str
) -> None:
    md = clients[redis_acl.MARKETDATA]
    refused("marketdata", f"HSET {session_key} sub XA99999",
            lambda: md.hset(session_key, "sub", "XA99999"))  # fmt: skip
    refused("marketdata", f"HGETALL {session_key}", lambda: md.hgetall(session_key))
    refused("marketdata", "PUBLISH auth:revoked",
            lambda: md.publish(names.SESSION_REVOKED, '{"sid":"x","reason":"x"}'))  # fmt: skip
    refused("marketdata", "SET auth:feed:token", lambda: md.set(names.FEED_TOKEN, "forged"))
    refused("marketdata", "SET auth:revoked:x", lambda: md.set(names.revoked_session_key("x"), 1))
    refused("marketdata", "FLUSHALL", lambda: md.flushall())
    # It may read the sealed feed token (that is how the ingestor gets it).
    assert md.get(names.FEED_TOKEN) is not None


def test_auth_user_cannot_publish_market_data(clients: dict[str, redis.Redis]) -> None:
    auth = clients[redis_acl.AUTH]
    refused("auth", f"PUBLISH md:tick:{SYMBOL}",
            lambda: auth.publish(names.tick_channel(SYMBOL), "{}"))  # fmt: skip
    refused("auth", f"SPUBLISH md:tick:{SYMBOL}", lambda: auth.execute_command(
        "SPUBLISH", names.tick_channel(SYMBOL), "{}"))  # fmt: skip
    refused("auth", f"HSET md:last {SYMBOL}", lambda: auth.hset(names.LAST_TICKS, SYMBOL, "{}"))
    refused("auth", "GET md:last", lambda: auth.hget(names.LAST_TICKS, SYMBOL))
    refused("auth", "PUBLISH md:status", lambda: auth.publish(names.STATUS, "{}"))
    refused("auth", "CONFIG GET *", lambda: auth.config_get("*"))
    assert auth.get(names.FEED_STATE) is not None


def test_no_service_user_has_admin_commands(clients: dict[str, redis.Redis]) -> None:
    for role in redis_acl.SERVICE_ROLES:
        client = clients[role]
        refused(role, "FLUSHDB", client.flushdb)
        refused(role, "ACL LIST", client.acl_list)
        refused(role, "CONFIG SET", lambda c=client: c.config_set("maxmemory", "1"))  # type: ignore[misc]
        refused(role, "KEYS *", lambda c=client: c.keys("*"))  # type: ignore[misc]


#: What Redis's own users (replica, sentinel) try on a data node, each refused.
_DATA_ATTEMPTS: tuple[tuple[str, Callable[[redis.Redis], Any]], ...] = (
    ("HGET md:last", lambda c: c.hget(names.LAST_TICKS, SYMBOL)),
    ("GET md:status", lambda c: c.get(names.STATUS)),
    ("GET auth:feed:token", lambda c: c.get(names.FEED_TOKEN)),
    (f"HSET md:last {SYMBOL}", lambda c: c.hset(names.LAST_TICKS, SYMBOL, "{}")),
    (f"PUBLISH md:tick:{SYMBOL}", lambda c: c.publish(names.tick_channel(SYMBOL), "{}")),
    ("KEYS *", lambda c: c.keys("*")),
    ("FLUSHALL", lambda c: c.flushall()),
    ("CONFIG SET maxmemory", lambda c: c.config_set("maxmemory", "1")),
    ("ACL LIST", lambda c: c.acl_list()),
)


def test_replica_and_sentinel_users_cannot_touch_data(acl_fleet: Fleet, session_key: str) -> None:
    """Redis's own users replicate and watch, nothing else, on every data node."""
    for port in _live_ports(acl_fleet):
        for role in redis_acl.INFRA_ROLES:
            client = _node_role(acl_fleet, port, role)
            who = f"{role} on :{port}"
            try:
                assert client.ping()  # signed in: what follows is refused, not unreachable
                refused(
                    who, f"HGETALL {session_key}", functools.partial(client.hgetall, session_key)
                )
                for what, attempt in _DATA_ATTEMPTS:
                    refused(who, what, functools.partial(attempt, client))
                refused_subscribe(client, who, names.tick_channel(SYMBOL), pattern=False)
                if role == redis_acl.SENTINEL:  # what it is for does answer
                    assert "role" in client.info("replication")
            finally:
                client.close()


def _example(block: str) -> str:
    found = re.search(rf"<!-- example: {block} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"the {block} example block is missing from docs/redis-contract.md"
    return found.group(1)


def _consumer_example(fleet: Fleet) -> str:
    """The docs example for the fleet's Redis, pointed at it as the ``consumer`` user: the
    Cluster block seeded with one node on a Cluster; the plain block against the primary the
    Sentinels name on Sentinel (what a consumer that asks them connects to)."""
    user, password = redisconn.credentials(fleet.redis_role_url(redis_acl.CONSUMER))
    kind = redisconn.parse(fleet.redis_url).kind
    topology: Any = fleet.redis
    if kind == "cluster":
        url = f"redis://{user}:{password}@127.0.0.1:{topology.ports[0]}"
        return _example("consumer-cluster").replace(CLUSTER_DOC_URL, url)
    if kind == "sentinel":
        url = f"redis://{user}:{password}@127.0.0.1:{topology.primary_port()}/0"
        return _example("consumer").replace(DOC_URL, url)
    return _example("consumer").replace(DOC_URL, fleet.redis_role_url(redis_acl.CONSUMER))


def test_the_docs_consumer_example_runs_as_the_consumer_user(
    acl_fleet: Fleet, tmp_path: Path
) -> None:
    """docs/redis-contract.md's redis-py example, as written, under the read-only user."""
    script = tmp_path / "consumer.py"
    script.write_text(_consumer_example(acl_fleet))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[list[str]] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(lines) < 10 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.split())
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    print(f"\nBOUND consumer example printed {len(lines)} lines; first {lines[:2]}")
    assert len(lines) >= 10, err
    status, rest = lines[0], lines[1:]
    assert status[0] == "status" and status[1] in ("up", "degraded"), status
    seen: dict[str, int] = {}
    for symbol, ltp, seq in rest:
        assert symbol.startswith("NSE:") and float(ltp) > 0
        assert int(seq) > seen.get(symbol, 0)
        seen[symbol] = int(seq)


async def test_the_fleet_still_serves_ticks_after_the_attacks(acl_fleet: Fleet) -> None:
    """Nothing refused above left a mark: a client through nginx gets live ticks, in order."""
    client = await acl_fleet.client([SYMBOL])
    before = client.rec.ticks
    deadline = time.monotonic() + 15
    while client.rec.ticks < before + 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    got = client.rec.ticks - before
    print(f"\nBOUND ticks received after the attacks: {got}; stale {client.rec.stale_ticks}")
    assert got >= 3
    assert client.rec.stale_ticks == 0
