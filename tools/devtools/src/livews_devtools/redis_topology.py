"""Which Redis the harness runs: one server, a 3×2 Cluster or a Sentinel-managed primary.

``LIVEWS_TEST_REDIS`` (tests: the pytest fixtures and :class:`~livews_devtools.fleet.Fleet`)
or ``LIVEWS_REDIS`` (``livews-dev``) picks it: ``single`` (the default), ``cluster`` or
``sentinel``. All three present the same duck-typed surface (:class:`RedisTopology`), so the
harness code does not care which one runs; :func:`start_redis` starts the chosen one.
"""

from __future__ import annotations

import os
from typing import Protocol

from livews_devtools.redis_server import RedisServer, RedisUnavailable

KINDS = ("single", "cluster", "sentinel")
TEST_ENV = "LIVEWS_TEST_REDIS"
DEV_ENV = "LIVEWS_REDIS"


class RedisTopology(Protocol):
    """What :class:`RedisServer`, ``RedisClusterServer`` and ``RedisSentinelServer`` share."""

    acl: bool

    @property
    def ports(self) -> list[int]:
        """The data nodes' ports (a Cluster's nodes, a Sentinel set's primary and replicas)."""
        ...

    @property
    def url(self) -> str: ...

    @property
    def running(self) -> bool: ...

    def role_url(self, role: str) -> str: ...

    def passwords(self) -> dict[str, str]: ...

    def pids(self) -> dict[str, int]: ...

    def start(self, timeout: float = ...) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> None: ...

    def close(self) -> None: ...


def redis_kind(kind: str | None = None, env: str = TEST_ENV) -> str:
    """``kind``, else the environment variable ``env``, else ``single``; checked."""
    chosen = (kind or os.environ.get(env) or "single").strip().lower()
    if chosen not in KINDS:
        raise ValueError(f"{env}={chosen!r}: expected one of {', '.join(KINDS)}")
    return chosen


def make_redis(kind: str | None = None, env: str = TEST_ENV) -> RedisTopology:
    """A not yet started Redis of ``kind`` (see :func:`redis_kind`)."""
    chosen = redis_kind(kind, env)
    if chosen == "cluster":
        from livews_devtools.redis_cluster import RedisClusterServer

        return RedisClusterServer()
    if chosen == "sentinel":
        try:
            from livews_devtools import redis_sentinel
        except ImportError as exc:  # written in parallel (issue #14)
            raise RedisUnavailable(f"no Sentinel harness here: {exc}") from exc
        server: RedisTopology = redis_sentinel.RedisSentinelServer()
        return server
    return RedisServer()


def start_redis(kind: str | None = None, env: str = TEST_ENV) -> RedisTopology:
    """A started Redis of ``kind`` (``single``, ``cluster``, ``sentinel``; default from ``env``).

    The caller closes it (``close()``, or use it as a context manager).
    """
    server = make_redis(kind, env)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
