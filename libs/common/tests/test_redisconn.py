"""The three REDIS_URL forms (CONTRACT.md §1, v1.1) parse, redact and take credentials."""

from __future__ import annotations

import pytest

from livews_common import redisconn
from livews_common.settings import ConfigError, resolve_redis_url


def test_single_redis_url_keeps_its_form() -> None:
    target = redisconn.parse("rediss://gw:pw@redis:6380/2")
    assert (target.kind, target.tls) == ("single", True)
    assert redisconn.redact("rediss://gw:pw@redis:6380/2") == "rediss://gw:***@redis:6380/2"


def test_cluster_url_lists_its_seed_nodes_and_credentials() -> None:
    target = redisconn.parse("redis+cluster://gw:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
    assert target.kind == "cluster"
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002))
    assert (target.username, target.password) == ("gw", "p@ss")


def test_sentinel_url_names_the_service_and_db() -> None:
    target = redisconn.parse("redis+sentinel://s1:26379,s2/livews/3")
    assert target.kind == "sentinel"
    assert target.nodes == (("s1", 26379), ("s2", 6379))
    assert (target.service, target.db) == ("livews", 3)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://redis:6379/0", "unknown scheme"),
        ("redis+cluster://", "names no host"),
        ("redis+cluster://h:7000/2", "does not have"),
        ("redis+sentinel://h:26379", "<service-name>"),
        ("redis+sentinel://h:26379/svc/x", "bad database"),
        ("redis+cluster://u:secret@h:port", "bad port"),
    ],
)
def test_bad_urls_are_refused_by_name_without_the_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        redisconn.parse(url)
    assert "secret" not in str(caught.value)


def test_acl_credentials_from_the_environment_apply_to_every_form() -> None:
    env = {"REDIS_USERNAME": "gateway", "REDIS_PASSWORD": "s/3"}
    assert (
        resolve_redis_url("redis+cluster://a:1,b:2", env) == "redis+cluster://gateway:s%2F3@a:1,b:2"
    )
    assert resolve_redis_url("redis+sentinel://a:1/svc", env) == (
        "redis+sentinel://gateway:s%2F3@a:1/svc"
    )
    target = redisconn.parse(resolve_redis_url("redis+sentinel://a:1/svc/1", env))
    assert (target.username, target.password, target.db) == ("gateway", "s/3", 1)


def test_a_cluster_node_write_on_a_socket_closed_under_it_is_a_connection_error() -> None:
    # The whole Cluster restarting: a node's socket is closed while its connection is still
    # in use. Under uvloop (the services' loop) a plain connection's write then raises
    # RuntimeError, which the cluster client does not recover from; ours says ConnectionError.
    import redis
    import redis.asyncio as aioredis
    import uvloop

    from livews_devtools.ports import free_port
    from livews_devtools.redis_server import RedisServer

    async def write_after_abort(cls: type[aioredis.Connection], port: int) -> BaseException:
        conn = cls(host="127.0.0.1", port=port)
        await conn.connect()  # type: ignore[no-untyped-call]
        assert conn._writer is not None
        conn._writer.transport.abort()
        try:
            await conn.send_packed_command(conn.pack_command("PING"), check_health=False)
        except Exception as exc:
            return exc
        finally:
            await conn.disconnect()
        raise AssertionError("the write on an aborted socket succeeded")

    with RedisServer(free_port(), acl=False) as server:
        plain = uvloop.run(write_after_abort(aioredis.Connection, server.port))
        ours = uvloop.run(write_after_abort(redisconn._ClusterConnection, server.port))
    assert isinstance(plain, RuntimeError)  # what redis-py alone does (the bug worked around)
    assert isinstance(ours, redis.ConnectionError)
    assert "connection lost while writing" in str(ours)


def test_cluster_clients_create_their_connections_with_the_lost_write_handling() -> None:
    client = redisconn.connect("redis+cluster://u:p@127.0.0.1:7000,127.0.0.1:7001")
    manager = client.nodes_manager  # type: ignore[attr-defined]
    assert manager.connection_kwargs["connection_class"] is redisconn._ClusterConnection
    assert {n.connection_class for n in manager.startup_nodes.values()} == {
        redisconn._ClusterConnection
    }
