"""The harness's Redis topologies (issue #14): a real local 3×2 Cluster, and the switch between
one server, a Cluster and Sentinel (``LIVEWS_TEST_REDIS``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from livews_common import redis_acl, redisconn
from livews_devtools.redis_cluster import RedisClusterServer, slot_of
from livews_devtools.redis_server import RedisServer
from livews_devtools.redis_topology import make_redis, redis_kind

CHANNEL = "md:tick:NSE:SBIN-EQ"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServer]:
    with RedisClusterServer() as server:
        yield server


def test_cluster_has_three_primaries_with_a_replica_each(cluster: RedisClusterServer) -> None:
    assert len(cluster.nodes) == 6 and cluster.running
    assert len(cluster.primary_ports()) == 3
    ranges = cluster.slot_ranges()
    assert sum(last - first + 1 for first, last, _ in ranges) == 16384
    assert {port for _, _, port in ranges} == set(cluster.primary_ports())
    assert redisconn.parse(cluster.url).kind == "cluster"


def test_cluster_runs_the_fleet_acl_users(cluster: RedisClusterServer) -> None:
    admin = redisconn.connect_sync(cluster.url)
    try:
        assert redisconn.is_cluster(admin)
        for i in range(50):  # keys on every shard
            admin.set(f"x:{i}", str(i))
        assert admin.get("x:7") == b"7"
    finally:
        admin.close()
    for port in cluster.ports:  # default user off on every node
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()


def test_each_service_role_connects_to_the_cluster(cluster: RedisClusterServer) -> None:
    for role in redis_acl.SERVICE_ROLES:
        client = redisconn.connect_sync(cluster.role_url(role))
        try:
            assert redisconn.is_cluster(client) and client.ping()
            # Signed in as that user, not as admin: the read-only consumer may not write.
            if role == redis_acl.CONSUMER:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    client.hset("md:last", "x", "1")
        finally:
            client.close()


def test_killed_primary_is_replaced_by_its_replica(cluster: RedisClusterServer) -> None:
    owner = cluster.primary_port(CHANNEL)
    assert cluster.kill_primary(CHANNEL) == owner
    assert not any(n.running for n in cluster.nodes if n.port == owner)
    cluster.wait_stable(30.0)
    promoted = cluster.primary_port(CHANNEL)
    assert promoted != owner and promoted in cluster.ports
    client = redisconn.connect_sync(cluster.url)
    try:
        client.set(CHANNEL, "after")  # the slot takes writes again
        assert client.get(CHANNEL) == b"after"
    finally:
        client.close()
    cluster.restart_node(owner)  # back, as the new primary's replica
    cluster.wait_stable(30.0)
    assert cluster.primary_port(CHANNEL) == promoted and len(cluster.primary_ports()) == 3


def test_reshard_moves_a_channel_slot_to_another_primary(cluster: RedisClusterServer) -> None:
    before = cluster.primary_port(CHANNEL)
    after = cluster.reshard(CHANNEL)
    assert after != before
    assert any(first <= slot_of(CHANNEL) <= last and port == after
               for first, last, port in cluster.slot_ranges())  # fmt: skip


def test_cluster_stop_and_close_leave_nothing_running() -> None:
    server = RedisClusterServer()
    server.start()
    pids = server.pids()
    assert len(pids) == 6
    server.restart()  # same ports, the layout kept in nodes.conf
    assert server.running and len(server.primary_ports()) == 3
    workdirs = [n.workdir for n in server.nodes]
    server.close()
    assert not server.running and not server.pids()
    assert not any(d.exists() for d in workdirs)


def test_topology_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEWS_TEST_REDIS", raising=False)
    assert redis_kind() == "single"
    single = make_redis()
    assert isinstance(single, RedisServer)
    single.close()
    monkeypatch.setenv("LIVEWS_TEST_REDIS", "cluster")
    assert redis_kind() == "cluster"
    cluster = make_redis()
    assert isinstance(cluster, RedisClusterServer) and not cluster.running
    cluster.close()
    assert redis_kind("single") == "single"
    monkeypatch.setenv("LIVEWS_TEST_REDIS", "shards")
    with pytest.raises(ValueError, match="LIVEWS_TEST_REDIS"):
        redis_kind()
