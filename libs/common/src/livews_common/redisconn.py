"""One way for every process to reach Redis, whatever its topology (CONTRACT.md §1, v1.1).

``REDIS_URL`` takes three shapes:

- ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS) or ``unix://…``: one Redis;
- ``redis+cluster://[user:password@]host:port[,host:port…]`` (``rediss+cluster://`` for TLS):
  a Redis Cluster reached through any of its seed nodes;
- ``redis+sentinel://[user:password@]host:port[,host:port…]/<service>[/db]``
  (``rediss+sentinel://``): the primary that those Sentinels manage under ``<service>``; the
  credentials are the data nodes' (Sentinels themselves are reached without credentials unless
  ``REDIS_SENTINEL_PASSWORD`` [and ``REDIS_SENTINEL_USERNAME``] say otherwise).

:func:`connect` returns a client with the ordinary command surface for each: a plain client for
one Redis, a client whose connections follow the Sentinel-elected primary, or a cluster client.
The cluster client is not a subclass of the plain one; callers that need cluster-specific
behaviour (sharded pub/sub, per-slot scripts) ask :func:`is_cluster`.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import quote, unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from redis.sentinel import SentinelManagedConnection as SyncSentinelConnection
from redis.sentinel import SentinelManagedSSLConnection as SyncSentinelSSLConnection
from redis.typing import KeyT

from livews_common.settings import ConfigError

Kind = Literal["single", "cluster", "sentinel"]

SINGLE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SCHEMES = SINGLE_SCHEMES + CLUSTER_SCHEMES + SENTINEL_SCHEMES


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``REDIS_URL``: where the servers are and how to sign in to them."""

    kind: Kind
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    tls: bool = False
    service: str | None = None


def _fail(url: str, why: str) -> ConfigError:
    return ConfigError(
        f"REDIS_URL={redact(url)!r} {why}: expected redis://host:port/db, rediss://…, unix://…, "
        "redis+cluster://host:port[,host:port…] or redis+sentinel://host:port[,host:port…]/<service>"
    )


def _split(url: str) -> tuple[str, str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise _fail(url, "has an unknown scheme")
    netloc, _, path = rest.partition("/")
    return scheme, netloc, path


def _hostport(url: str, item: str) -> tuple[str, int]:
    if item.startswith("["):  # [ipv6]:port
        host, _, port = item[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    try:
        number = int(port) if port else 6379
    except ValueError:
        raise _fail(url, f"has a bad port in {item!r}") from None
    if not host or not 0 < number < 65536:
        raise _fail(url, f"has a bad host:port {item!r}")
    return host, number


def parse(url: str) -> RedisTarget:
    """Parse ``url``; raise :class:`ConfigError` naming what is wrong (password redacted)."""
    scheme, _, path = _split(url)
    if scheme in SINGLE_SCHEMES:
        return RedisTarget(kind="single", url=url, tls=scheme == "rediss")
    hosts = _userinfo(url)[2]
    user, secret = credentials(url)
    nodes = tuple(_hostport(url, item.strip()) for item in hosts.split(",") if item.strip())
    if not nodes:
        raise _fail(url, "names no host")
    base = {
        "url": url,
        "nodes": nodes,
        "username": user,
        "password": secret,
        "tls": scheme.startswith("rediss"),
    }
    parts = [p for p in path.split("/") if p]
    if scheme in CLUSTER_SCHEMES:
        if parts and parts != ["0"]:
            raise _fail(url, "selects a database, which a Redis Cluster does not have")
        return RedisTarget(kind="cluster", **base)  # type: ignore[arg-type]
    if not parts or len(parts) > 2:
        raise _fail(url, "must end in /<service-name>[/db] for Sentinel")
    try:
        db = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise _fail(url, f"has a bad database number {parts[1]!r}") from None
    return RedisTarget(kind="sentinel", service=unquote(parts[0]), db=db, **base)  # type: ignore[arg-type]


def check(url: str) -> None:
    """Refuse a ``REDIS_URL`` of none of the documented forms (at start, exit code 2)."""
    parse(url)


def redact(url: str) -> str:
    """``url`` fit for a log line: its password, if any, replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc = rest.partition("/")[0]
    userinfo, at, _ = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{rest[len(userinfo) + 1 :]}"


def _userinfo(url: str) -> tuple[str, str, str, str]:
    """``(scheme, userinfo, hosts, tail)`` of ``url``; ``tail`` is everything after the hosts."""
    scheme, netloc, _ = _split(url)
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", netloc
    return scheme, userinfo, hosts, url[len(scheme) + 3 + len(netloc) :]


def credentials(url: str) -> tuple[str | None, str | None]:
    """The user and password ``url`` carries (percent-decoded; None when absent)."""
    userinfo = _userinfo(url)[1]
    user, colon, secret = userinfo.partition(":")
    return unquote(user) or None, (unquote(secret) if colon else None)


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with its user and password replaced (each only when given; percent-encoded)."""
    scheme, _, hosts, tail = _userinfo(url)
    old_user, old_secret = credentials(url)
    user = username if username is not None else old_user or ""
    secret = password if password is not None else old_secret or ""
    auth = quote(user, safe="")
    if secret:
        auth += ":" + quote(secret, safe="")
    return f"{scheme}://{auth}@{hosts}{tail}" if auth else f"{scheme}://{hosts}{tail}"


def is_cluster(client: object) -> bool:
    """Whether ``client`` (asyncio or blocking) talks to a Redis Cluster (so channels need
    sharded pub/sub)."""
    from redis.cluster import RedisCluster as SyncCluster

    return isinstance(client, (RedisCluster, SyncCluster))


async def mget(client: aioredis.Redis, keys: Sequence[KeyT]) -> list[Any]:
    """``MGET keys`` on any topology: on a Cluster one MGET per slot (not atomic across them)."""
    if isinstance(client, RedisCluster):
        return await client.mget_nonatomic(list(keys))
    values: list[Any] = await client.mget(list(keys))
    return values


def _sentinel_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("socket_timeout", "socket_connect_timeout")
    kwargs: dict[str, Any] = {k: options[k] for k in keys if k in options}
    password = os.environ.get("REDIS_SENTINEL_PASSWORD")
    if password:
        kwargs["password"] = password
        kwargs["username"] = os.environ.get("REDIS_SENTINEL_USERNAME") or None
    return kwargs


def _default_retry(options: dict[str, Any], client: Any) -> None:
    """Give a Sentinel-managed client the retry policy a plain one has by default.

    redis-py's ``Redis()`` retries a command on a connection error (10 times, backing off
    from 10 ms to 1 s) unless told otherwise, but the clients ``master_for`` makes do not
    retry at all. A connection still open to a demoted primary answers READONLY, which the
    Sentinel connection turns into a connection error so that a retry asks the Sentinels and
    lands on the new primary; without a retry the caller gets the error instead.
    """
    if "retry" not in options:
        default = inspect.signature(client.__init__).parameters["retry"].default
        options["retry"] = copy.deepcopy(default)


def connect(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for ``url``; ``options`` are redis-py connection options.

    Typed as the plain client: the cluster client answers the same commands (see module doc).
    """
    target = parse(url)
    if target.kind == "single":
        return aioredis.Redis.from_url(url, **options)
    options.update(username=target.username, password=target.password, ssl=target.tls)
    if target.kind == "cluster":
        options.pop("db", None)
        node: Any = ClusterNode
        nodes = [node(host, port) for host, port in target.nodes]
        return cast(aioredis.Redis, _lost_writes_fail_as_connection_errors(
            RedisCluster(startup_nodes=nodes, **options)))  # fmt: skip
    _default_retry(options, aioredis.Redis)
    tls = options.pop("ssl")
    options["connection_class"] = _PrimarySSLConnection if tls else _PrimaryConnection
    manager: Any = Sentinel(list(target.nodes), sentinel_kwargs=_sentinel_kwargs(options))  # type: ignore[no-untyped-call]
    primary = manager.master_for(
        target.service, redis_class=_SentinelPrimary, db=target.db, **options
    )
    primary.sentinel_clients = tuple(manager.sentinels)
    return cast(aioredis.Redis, primary)


def connect_sync(url: str, **options: Any) -> redis.Redis:
    """The blocking twin of :func:`connect` (dev tools, scripts and tests)."""
    from redis.cluster import ClusterNode as SyncNode
    from redis.cluster import RedisCluster as SyncCluster
    from redis.sentinel import Sentinel as SyncSentinel

    target = parse(url)
    if target.kind == "single":
        return redis.Redis.from_url(url, **options)
    options.update(username=target.username, password=target.password, ssl=target.tls)
    if target.kind == "cluster":
        options.pop("db", None)
        node: Any = SyncNode
        nodes = [node(host, port) for host, port in target.nodes]
        return cast(redis.Redis, SyncCluster(startup_nodes=nodes, **options))
    _default_retry(options, redis.Redis)
    tls = options.pop("ssl")
    options["connection_class"] = _SyncPrimarySSLConnection if tls else _SyncPrimaryConnection
    sentinels: Any = SyncSentinel
    manager = sentinels(list(target.nodes), sentinel_kwargs=_sentinel_kwargs(options))
    primary = manager.master_for(
        target.service, redis_class=_SyncSentinelPrimary, db=target.db, **options
    )
    primary.sentinel_clients = tuple(manager.sentinels)
    return cast(redis.Redis, primary)


class _ClusterConnection(aioredis.Connection):
    """A cluster node's connection whose write on a socket that closed under it is a
    :class:`redis.ConnectionError`.

    When every node of a Cluster dies, redis-py's cluster client disconnects a node's
    connections while another task is about to write on one of them; the write then fails
    with ``RuntimeError`` (uvloop: "unable to perform operation on <TCPTransport closed=True>")
    or ``AttributeError`` (``_writer`` already None) instead of a connection error. Those
    escape the cluster client's recovery (reinitialise the slot map, retry) and every
    caller's handling of an outage: the ingestor's leader term died on one after a restart of
    the whole Cluster. As a connection error the client recovers as from any lost node.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except (RuntimeError, AttributeError) as exc:
            if "closed" not in str(exc) and "'NoneType'" not in str(exc):
                raise  # not a lost socket: a bug to see as it is
            await self.disconnect(nowait=True)
            raise redis.ConnectionError(f"connection lost while writing: {exc}") from exc


class _ClusterSSLConnection(_ClusterConnection, aioredis.SSLConnection):
    pass


def _lost_writes_fail_as_connection_errors(client: RedisCluster) -> RedisCluster:
    """Make every node ``client`` creates use :class:`_ClusterConnection` (RedisCluster takes
    no ``connection_class``; its nodes take theirs from these shared keyword arguments)."""
    kwargs = client.nodes_manager.connection_kwargs
    tls = issubclass(kwargs.get("connection_class", aioredis.Connection), aioredis.SSLConnection)
    cls = _ClusterSSLConnection if tls else _ClusterConnection
    kwargs["connection_class"] = cls
    for node in client.nodes_manager.startup_nodes.values():
        node.connection_class = cls
    return client


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to the Sentinel-elected primary that asks the Sentinels again whenever it
    reconnects.

    redis-py's own only does so in ``connect()``; its command retry reconnects through
    ``connect_check_health()`` to the address it had. After a failover that is the demoted
    primary: every retry got READONLY again and the command failed, once per pooled
    connection (auth answered 503 to a sign-in after a switchover).
    """

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self.is_connected and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(check_health, retry_socket_connect)


class _PrimarySSLConnection(_PrimaryConnection, SentinelManagedSSLConnection):
    pass


class _SyncPrimaryConnection(SyncSentinelConnection):
    """The blocking twin of :class:`_PrimaryConnection`."""

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self._sock is None and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health, retry_socket_connect)


class _SyncPrimarySSLConnection(_SyncPrimaryConnection, SyncSentinelSSLConnection):
    pass


class _SentinelPrimary(aioredis.Redis):
    """The Sentinel-managed primary's client; closing it also closes its connections to the
    Sentinels (redis-py leaves those open, one set per client made)."""

    sentinel_clients: tuple[aioredis.Redis, ...] = ()

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for client in self.sentinel_clients:
            await client.aclose()


class _SyncSentinelPrimary(redis.Redis):
    """The blocking twin of :class:`_SentinelPrimary`."""

    sentinel_clients: tuple[redis.Redis, ...] = ()

    def close(self) -> None:
        super().close()
        for client in self.sentinel_clients:
            client.close()
